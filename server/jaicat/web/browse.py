"""The timeline (months, photos by date), the map (photos with GPS, and where tiles come from) and post
ideas for sharing."""

from __future__ import annotations

import re

from flask import Blueprint, jsonify, request

from . import settings
from ..db import Photo
from ..posts import ideas as posts
from ..search import browse
from .params import BadRequest, arg_int, field, id_list, json_body, limit_arg
from .serialize import iso, photo_json, photo_urls

bp = Blueprint("browse", __name__, url_prefix="/api")


@bp.get("/timeline")
def timeline():
    months, undated = browse.months()
    return jsonify({"months": months, "undated": undated})


@bp.get("/timeline/photos")
def timeline_photos():
    limit = limit_arg(60)
    until = request.args.get("until") or None
    if until is not None and not re.fullmatch(r"\d{4}-\d{2}|undated", until):
        raise BadRequest("until must be a month YYYY-MM or 'undated'")
    if len(request.args.get("cursor") or "") > 64:
        raise BadRequest("invalid cursor")
    rows, nxt = browse.by_date(limit, request.args.get("cursor") or None, until)
    return jsonify({"items": [photo_json(p) for p in rows], "next_cursor": nxt})


@bp.get("/places")
def places():
    rows = browse.places(arg_int("limit", browse.MAX_PLACES, 1, browse.MAX_PLACES))
    return jsonify({"tiles": settings().map_tiles or None,
                    "items": [dict(p, taken_at=iso(p["taken_at"]), **photo_urls(p["id"])) for p in rows]})


@bp.post("/ideas")
def ideas():
    """Three post ideas for one photo or a few (people named only with `people: true`)."""
    body = json_body()
    ids = id_list(body, max_items=posts.MAX_PHOTOS)
    people = field(body, "people", bool, default=False)
    return jsonify(posts.draft([Photo.get_or_404(i) for i in ids], people=people, language=settings().language))
