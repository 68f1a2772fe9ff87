"""Text search over the photos (CLIP text embedding, tags, captions) via jaicat.search."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from ..db import Photo
from .params import BadRequest, limit_arg
from .serialize import photo_json

bp = Blueprint("search", __name__, url_prefix="/api")


def run_search(text: str, limit: int, offset: int = 0) -> list[tuple[Photo, float | None]]:
    """[(photo, score)] best first, from jaicat.search (free text plus its `tag:`/`person:` filters)."""
    from .. import search

    hits = search.search(current_app.config["JAICAT_SETTINGS"], text, limit=limit, offset=offset)
    return [(h.photo, h.score) for h in hits]


@bp.get("/search")
def search_route():
    text = (request.args.get("q") or "").strip()
    if not text:
        raise BadRequest("query parameter 'q' is required")
    if len(text) > 500:
        raise BadRequest("query is longer than 500 characters")
    limit = limit_arg()
    return jsonify({"items": [dict(photo_json(p), score=s) for p, s in run_search(text, limit)]})
