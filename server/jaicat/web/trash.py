"""The trash: list what is in it, empty it (all of it or some photos). Trashing and restoring are
photo actions (web/photos.py)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from ..photos import trash
from .params import id_list, int_cursor, json_body, limit_arg
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
    """Delete photos in the trash for good: every one, or those in `ids`."""
    body = json_body(optional=True)
    ids = id_list(body) if "ids" in body else None
    deleted = trash.empty_trash(current_app.config["JAICAT_SETTINGS"], photo_ids=ids)
    return jsonify({"deleted": deleted})
