"""The timeline (months, photos by date), the map (photos with GPS, and where tiles come from) and post
ideas for sharing."""

from __future__ import annotations

import re

from flask import Blueprint, jsonify, request

from . import settings
from ..db import Photo
from ..posts import ideas as posts
from ..search import browse
from .params import BadRequest, arg_int, field, id_list, int_cursor, json_body, limit_arg
from .serialize import iso, photo_json, photo_urls

bp = Blueprint("browse", __name__, url_prefix="/api")


@bp.get("/timeline")
def timeline():
    return jsonify({"months": browse.months()})


@bp.get("/timeline/photos")
def timeline_photos():
    limit = limit_arg(60)
    start = int_cursor(request.args.get("cursor") or None)
    until = request.args.get("until") or None
    if until is not None and not re.fullmatch(r"\d{4}-\d{2}", until):
        raise BadRequest("until must be a month YYYY-MM")
    rows = browse.by_date(limit + 1, start, until)
    return jsonify({"items": [photo_json(p) for p in rows[:limit]],
                    "next_cursor": str(start + limit) if len(rows) > limit else None})


@bp.get("/places")
def places():
    rows = browse.places(arg_int("limit", browse.MAX_PLACES, 1, browse.MAX_PLACES))
    return jsonify({"tiles": settings().map_tiles or None,
                    "items": [{"id": p.id, "lat": p.gps_lat, "lon": p.gps_lon, "taken_at": iso(p.taken_at),
                               "filename": p.original_filename, **photo_urls(p.id)} for p in rows]})


@bp.post("/ideas")
def ideas():
    """Three post ideas for one photo or a few (people named only with `people: true`)."""
    body = json_body()
    ids = id_list(body, max_items=posts.MAX_PHOTOS)
    people = field(body, "people", bool, default=False)
    return jsonify(posts.draft([Photo.get_or_404(i) for i in ids], people=people, language=settings().language))
