"""Photos: filtered, cursor-paginated listing; detail; thumbnails and originals (ETag, Range)."""

from __future__ import annotations

import re

import datetime as dt

from flask import Blueprint, current_app, jsonify, request, send_file
from peewee import fn

from .. import ingest, library
from ..db import Face, Photo, PhotoTag, Tag
from ..errors import NotFound
from .params import BadRequest, arg_date, arg_int, limit_arg
from .search import run_search
from .serialize import photo_json

bp = Blueprint("photos", __name__, url_prefix="/api/photos")


def get_photo(photo_id: int) -> Photo:
    photo = Photo.get_or_none(Photo.id == photo_id)
    if photo is None:
        raise NotFound(f"no photo {photo_id}")
    return photo


def _filtered():
    q = Photo.select()
    status = request.args.get("status")
    if status:
        if status not in Photo.STATUSES:
            raise BadRequest(f"status must be one of {', '.join(Photo.STATUSES)}")
        q = q.where(Photo.status == status)
    folder = request.args.get("folder")
    if folder is not None:
        folder = library.normalise_folder(folder)
        q = q.where(Photo.root == "library")
        # direct children only; substr comparison because LIKE is case-insensitive in SQLite
        prefix = folder + "/" if folder else ""
        n = len(prefix)
        if n:
            q = q.where(fn.substr(Photo.path, 1, n) == prefix)
        q = q.where(fn.instr(fn.substr(Photo.path, n + 1), "/") == 0)
    tag = request.args.get("tag")
    if tag:
        q = q.where(Photo.id.in_(
            PhotoTag.select(PhotoTag.photo).join(Tag)
            .where((Tag.name == tag.strip()) & (PhotoTag.removed == False))))  # noqa: E712
    person = arg_int("person", None, 1, 2**62)
    if person is not None:
        q = q.where(Photo.id.in_(Face.select(Face.photo).where(Face.person == person)))
    date_from, date_to = arg_date("date_from"), arg_date("date_to")
    if date_from:
        q = q.where(Photo.taken_at >= dt.datetime.combine(date_from, dt.time.min))
    if date_to:
        q = q.where(Photo.taken_at < dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min))
    return q


@bp.get("")
def list_photos():
    limit = limit_arg()
    q = _filtered()
    text = (request.args.get("q") or "").strip()
    cursor = request.args.get("cursor") or None
    if text:
        # Ranked results within the filters: the cursor is the rank to continue from. Search ranks
        # the whole catalogue, so over-fetch and keep the photos that pass the filters.
        start = _int_cursor(cursor)
        allowed = {pid for (pid,) in q.select(Photo.id).tuples()}
        ranked = [(p, s) for p, s in run_search(text, limit=start + limit + 1 + 1000) if p.id in allowed]
        page = ranked[start:start + limit]
        more = len(ranked) > start + limit
        return jsonify({"items": [dict(photo_json(p), score=s) for p, s in page],
                        "next_cursor": str(start + limit) if more else None})
    if cursor is not None:
        q = q.where(Photo.id < _int_cursor(cursor))
    rows = list(q.order_by(Photo.id.desc()).limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return jsonify({"items": [photo_json(p) for p in rows],
                    "next_cursor": str(rows[-1].id) if more and rows else None})


def _int_cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not re.fullmatch(r"[0-9]{1,18}", cursor):
        raise BadRequest("invalid cursor")
    return int(cursor)


@bp.get("/<int:photo_id>")
def detail(photo_id: int):
    return jsonify(photo_json(get_photo(photo_id), detail=True))


@bp.get("/<int:photo_id>/thumb")
def thumb(photo_id: int):
    settings = current_app.config["JAICAT_SETTINGS"]
    size = arg_int("size", min(settings.thumb_sizes))
    if size not in settings.thumb_sizes:
        raise BadRequest(f"size must be one of {', '.join(map(str, settings.thumb_sizes))}")
    photo = get_photo(photo_id)
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
    photo = get_photo(photo_id)
    path = library.photo_file(photo, settings)
    if not path.is_file():
        raise NotFound(f"the file of photo {photo_id} is missing")
    resp = send_file(path, mimetype=photo.mime, conditional=True, etag=photo.sha256, max_age=86400,
                     download_name=photo.original_filename)
    resp.cache_control.public = False
    resp.cache_control.private = True
    return resp
