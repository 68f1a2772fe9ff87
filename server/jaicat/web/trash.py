"""The trash: list what is in it, empty it (all of it or some photos). Trashing and restoring are
photo actions (web/photos.py)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, jsonify, request

from . import settings
from ..photos import trash
from .params import BadRequest, field, id_list, int_cursor, json_body, limit_arg
from .serialize import iso, photo_json

bp = Blueprint("trash", __name__, url_prefix="/api/trash")


@bp.get("")
def listing():
    cursor = request.args.get("cursor") or None
    rows, nxt = trash.trashed(limit_arg(), int_cursor(cursor) if cursor else None)
    return jsonify({"items": [dict(photo_json(p), trashed_at=iso(p.trashed_at)) for p in rows],
                    "next_cursor": str(nxt) if nxt else None})


@bp.post("/empty")
def empty():
    """Delete photos in the trash for good: every one, those in `ids`, or those trashed at least
    `older_than_days` days ago."""
    body = json_body(optional=True)
    ids = id_list(body) if "ids" in body else None
    days = field(body, "older_than_days", int)
    if days is not None and not 0 <= days <= 100_000:
        raise BadRequest("'older_than_days' must be 0 to 100000")
    older = dt.timedelta(days=days) if days is not None else None
    deleted = trash.empty_trash(settings(), photo_ids=ids, older_than=older)
    return jsonify({"deleted": deleted})
