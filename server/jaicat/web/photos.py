"""Photos: filtered, cursor-paginated listing; detail; thumbnails, originals and video previews (ETag, Range)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, g, jsonify, request, send_file

from ..photos import favourites, ingest, library, paths, preview, tags, trash
from ..search import query as search
from ..db import Photo
from ..errors import NotFound
from . import runtime, settings
from .params import BadRequest, arg_date, arg_int, field, id_list, int_cursor, json_body, limit_arg, str_list
from .serialize import photo_json

bp = Blueprint("photos", __name__, url_prefix="/api/photos")
FILED_BY = ("auto", "user")


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
        q.directly_in = paths.normalise_folder(folder)
    tag = (request.args.get("tag") or "").strip()
    if tag:
        q.tags.append(tag)
    if request.args.get("favourite") in ("1", "true"):
        q.favourite = True
    filed_by = request.args.get("filed_by")
    if filed_by is not None:
        if filed_by not in FILED_BY:
            raise BadRequest(f"filed_by must be one of {', '.join(FILED_BY)}")
        q.filed_by = filed_by
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
        hits = search.search(settings(), q, limit=limit + 1, offset=start,
                             models=runtime().models, indexes=runtime().indexes)
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
    """Edit a photo outside a review decision: its tags (face names are left alone), its star."""
    body = json_body()
    wanted = str_list(body, "tags")
    star = field(body, "favourite", bool)
    if wanted is None and star is None:
        raise BadRequest("nothing to change: send 'tags' or 'favourite'")
    photo = Photo.get_or_404(photo_id)
    if star is not None:
        favourites.set_favourite(photo, star)
    if wanted is not None:
        tags.edit_photo_tags(photo, wanted)
    return jsonify(photo_json(Photo.get_or_404(photo_id), detail=True))


@bp.post("/<int:photo_id>/tags")
def change_tags(photo_id: int):
    """Add and remove some of a photo's tags (what `jaicat tag add/remove` asks the server)."""
    body = json_body()
    add, remove = str_list(body, "add") or [], str_list(body, "remove") or []
    if not add and not remove:
        raise BadRequest("nothing to change: send 'add' or 'remove' (lists of tag names)")
    return jsonify({"photo_id": photo_id, "tags": tags.change_tags(Photo.get_or_404(photo_id), add, remove)})


def _photos(ids: list[int]) -> list[Photo]:
    """The photos with these ids, in the order given; NotFound names the first id that has none."""
    return [Photo.get_or_404(i) for i in ids]


@bp.post("/move")
def move():
    """Move photos (from the library or the inbox) into a library folder."""
    body = json_body()
    ids = id_list(body)
    folder = field(body, "folder", str, required=True)
    create = field(body, "create", bool, default=False)
    decisions = library.move_photos(_photos(ids), folder, settings(), create=create, device=g.device.name)
    return jsonify({"moved": len(decisions), "folder": paths.normalise_folder(folder),
                    "decision_ids": [d.id for d in decisions]})


@bp.post("/trash")
def to_trash():
    """Move photos to the trash (restorable until the trash is emptied)."""
    done = [trash.trash_photo(p, settings()) for p in _photos(id_list(json_body()))]
    return jsonify({"trashed": len(done), "ids": [p.id for p in done]})


@bp.post("/restore")
def restore():
    """Put trashed photos back where they were."""
    done = [trash.restore_photo(p, settings()) for p in _photos(id_list(json_body()))]
    return jsonify({"restored": len(done), "items": [photo_json(p) for p in done]})


@bp.get("/<int:photo_id>/thumb")
def thumb(photo_id: int):
    sizes = settings().thumb_sizes
    size = arg_int("size", min(sizes))
    if size not in sizes:
        raise BadRequest(f"size must be one of {', '.join(map(str, sizes))}")
    photo = Photo.get_or_404(photo_id)
    path = ingest.thumb_path(settings(), photo, size)
    if not path.is_file():
        raise NotFound(f"photo {photo_id} has no {size}px thumbnail")
    resp = send_file(path, mimetype="image/jpeg", conditional=True, etag=f"{photo.sha256}-{size}",
                     max_age=86400)
    resp.cache_control.public = False
    resp.cache_control.private = True
    return resp


@bp.get("/<int:photo_id>/original")
def original(photo_id: int):
    photo = Photo.get_or_404(photo_id)
    path = library.photo_file(photo, settings())
    if not path.is_file():
        raise NotFound(f"the file of photo {photo_id} is missing")
    resp = send_file(path, mimetype=photo.mime, conditional=True, etag=photo.sha256, max_age=86400,
                     download_name=photo.original_filename)
    resp.cache_control.public = False
    resp.cache_control.private = True
    return resp


@bp.get("/<int:photo_id>/video-preview")
def video_preview(photo_id: int):
    """The browser-playable H.264 preview of a video whose original browsers cannot play."""
    photo = Photo.get_or_404(photo_id)
    if not photo.is_video:
        raise NotFound(f"photo {photo_id} is not a video")
    path = preview.preview_path(settings(), photo.sha256)
    if not path.is_file():
        raise NotFound(f"video {photo_id} has no preview: browsers play its original, or the preview "
                       "is still being made")
    resp = send_file(path, mimetype="video/mp4", conditional=True, etag=f"{photo.sha256}-preview",
                     max_age=86400)
    resp.cache_control.public = False
    resp.cache_control.private = True
    return resp
