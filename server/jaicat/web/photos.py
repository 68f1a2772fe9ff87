"""Photos: filtered, cursor-paginated listing; detail; thumbnails and originals (ETag, Range)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, jsonify, request, send_file

from ..photos import ingest, library, tags
from ..search import query as search
from ..db import Photo
from ..errors import NotFound
from . import runtime
from .params import BadRequest, arg_date, arg_int, int_cursor, json_body, limit_arg, str_list
from .serialize import photo_json

bp = Blueprint("photos", __name__, url_prefix="/api/photos")


def _query() -> search.Query | None:
    """The list's filters as a search Query: one filtering and ranking path for list and search.
    None when the parameters contradict the query (e.g. q=status:inbox&status=filed): nothing matches."""
    text = (request.args.get("q") or "").strip()
    if len(text) > 500:
        raise BadRequest("query is longer than 500 characters")
    q = search.parse_query(text)  # same syntax as /api/search; the parameters below narrow it further
    status = request.args.get("status")
    if status:
        if status not in Photo.STATUSES:
            raise BadRequest(f"status must be one of {', '.join(Photo.STATUSES)}")
        # status: words in q are alternatives; the parameter narrows them
        if q.statuses and status not in q.statuses:
            return None
        q.statuses = [status]
    folder = request.args.get("folder")
    if folder is not None:
        q.directly_in = library.normalise_folder(folder)
    tag = (request.args.get("tag") or "").strip()
    if tag:
        q.tags.append(tag)
    person = arg_int("person", None, 1, 2**62)
    if person is not None:
        q.people.append(str(person))
    date_from, date_to = arg_date("date_from"), arg_date("date_to")
    if date_from:
        start = dt.datetime.combine(date_from, dt.time.min)
        q.after = max(q.after, start) if q.after else start
    if date_to:
        end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min)
        q.before = min(q.before, end) if q.before else end
    return q


@bp.get("")
def list_photos():
    limit = limit_arg()
    q = _query()
    cursor = request.args.get("cursor") or None
    if q is None:
        int_cursor(cursor)
        return jsonify({"items": [], "next_cursor": None})
    if q.text or q.similar is not None:
        # Ranked within the filters: the cursor is the rank to continue from.
        start = int_cursor(cursor)
        hits = search.search(current_app.config["JAICAT_SETTINGS"], q, limit=limit + 1, offset=start,
                             models=runtime().models)
        page = hits[:limit]
        return jsonify({"items": [dict(photo_json(h.photo), score=h.score) for h in page],
                        "next_cursor": str(start + limit) if len(hits) > limit else None})
    sel = search.filtered_photos(q)
    if cursor is not None:
        sel = sel.where(Photo.id < int_cursor(cursor))
    rows = list(sel.order_by(Photo.id.desc()).limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return jsonify({"items": [photo_json(p) for p in rows],
                    "next_cursor": str(rows[-1].id) if more and rows else None})


@bp.get("/<int:photo_id>")
def detail(photo_id: int):
    return jsonify(photo_json(Photo.get_or_404(photo_id), detail=True))


@bp.patch("/<int:photo_id>")
def edit(photo_id: int):
    """Edit a photo outside a review decision; today that is its tags (face names are left alone)."""
    body = json_body()
    wanted = str_list(body, "tags")
    if wanted is None:
        raise BadRequest("nothing to change: send 'tags'")
    tags.edit_photo_tags(Photo.get_or_404(photo_id), wanted)
    return jsonify(photo_json(Photo.get_or_404(photo_id), detail=True))


@bp.get("/<int:photo_id>/thumb")
def thumb(photo_id: int):
    settings = current_app.config["JAICAT_SETTINGS"]
    size = arg_int("size", min(settings.thumb_sizes))
    if size not in settings.thumb_sizes:
        raise BadRequest(f"size must be one of {', '.join(map(str, settings.thumb_sizes))}")
    photo = Photo.get_or_404(photo_id)
    path = ingest.thumb_path(settings, photo, size)
    if not path.is_file():
        raise NotFound(f"photo {photo_id} has no {size}px thumbnail")
    resp = send_file(path, mimetype="image/jpeg", conditional=True, etag=f"{photo.sha256}-{size}",
                     max_age=86400)
    resp.cache_control.public = False
    resp.cache_control.private = True
    return resp


@bp.get("/<int:photo_id>/original")
def original(photo_id: int):
    settings = current_app.config["JAICAT_SETTINGS"]
    photo = Photo.get_or_404(photo_id)
    path = library.photo_file(photo, settings)
    if not path.is_file():
        raise NotFound(f"the file of photo {photo_id} is missing")
    resp = send_file(path, mimetype=photo.mime, conditional=True, etag=photo.sha256, max_age=86400,
                     download_name=photo.original_filename)
    resp.cache_control.public = False
    resp.cache_control.private = True
    return resp
