"""Text search over the photos (CLIP text embedding, tags, captions) via jaicat.search.query."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..search import query as search
from ..search.exact import resolve_names
from . import runtime, settings
from .params import BadRequest, limit_arg, int_cursor
from .serialize import photo_json

bp = Blueprint("search", __name__, url_prefix="/api")
# what a search without CLIP weights says when no name, tag, caption or file name matched
IMAGE_SEARCH_OFF = ("Only names, tags, captions and file names were searched: finding photos by what is in "
                    "them needs the image model. Run `jaicat models pull` on the server.")


@bp.get("/search")
def search_route():
    text = (request.args.get("q") or "").strip()
    if not text:
        raise BadRequest("query parameter 'q' is required")
    if len(text) > 500:
        raise BadRequest("query is longer than 500 characters")
    limit = limit_arg()
    start = int_cursor(request.args.get("cursor") or None)
    q = search.parse_query(text)
    hints = resolve_names(q)  # person:Angelina Jolie -> person "Angelina Jolie", with a hint
    # one extra hit tells whether another page exists; the cursor is the rank to continue from
    hits = search.search(settings(), q, limit=limit + 1, offset=start,
                         models=runtime().models, indexes=runtime().indexes)
    if q.image_search is False and not any(h.match for h in hits):
        hints.append(IMAGE_SEARCH_OFF)
    return jsonify({"items": [dict(photo_json(h.photo), score=h.score, match=h.match) for h in hits[:limit]],
                    "next_cursor": str(start + limit) if len(hits) > limit else None, "hints": hints})
