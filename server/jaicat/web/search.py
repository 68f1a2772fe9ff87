"""Text search over the photos (CLIP text embedding, tags, captions) via jaicat.search."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from ..db import Photo
from .params import BadRequest, limit_arg
from .serialize import photo_json

bp = Blueprint("search", __name__, url_prefix="/api")


def run_search(text: str, limit: int) -> list[tuple[int, float]]:
    """[(photo_id, score)] best first, from the search module."""
    from .. import search

    settings = current_app.config["JAICAT_SETTINGS"]
    hits = search.search(text, settings, limit=limit)
    out = []
    for h in hits:
        if isinstance(h, dict):
            out.append((int(h.get("photo_id", h.get("id"))), float(h.get("score", 0.0))))
        elif isinstance(h, (tuple, list)):
            out.append((int(h[0]), float(h[1])))
        else:
            out.append((int(getattr(h, "photo_id", getattr(h, "id", 0))), float(getattr(h, "score", 0.0))))
    return out


@bp.get("/search")
def search_route():
    text = (request.args.get("q") or "").strip()
    if not text:
        raise BadRequest("query parameter 'q' is required")
    if len(text) > 500:
        raise BadRequest("query is longer than 500 characters")
    limit = limit_arg()
    ranked = run_search(text, limit)[:limit]
    photos = {p.id: p for p in Photo.select().where(Photo.id.in_([pid for pid, _ in ranked]))}
    return jsonify({"items": [dict(photo_json(photos[pid]), score=s) for pid, s in ranked if pid in photos]})
