"""The review queue: suggestions to accept, fix or skip, and undo. Shared by HTTP and the websocket."""

from __future__ import annotations

import re

from flask import Blueprint, current_app, g, jsonify, request

from ..photos import library, tags
from ..errors import Conflict, NotFound
from ..db import Photo
from .params import BadRequest, field, json_body, limit_arg, str_list
from .serialize import decision_json, photo_json

bp = Blueprint("review", __name__, url_prefix="/api")

ACTIONS = ("accept", "fix", "skip")


def decide(settings, device_name: str | None, photo_id, action: str, body: dict) -> dict:
    """Apply one review action to a photo; returns {"decision", "photo"} as JSON-able dicts."""
    if isinstance(photo_id, bool) or not isinstance(photo_id, int):
        raise BadRequest("'photo_id' must be an integer")
    if action not in ACTIONS:
        raise BadRequest(f"action must be one of {', '.join(ACTIONS)}")
    photo = Photo.get_or_404(photo_id)
    suggested = photo.suggestions
    if action == "skip":
        decision = library.skip_photo(photo, settings, suggested=suggested, device=device_name)
    elif action == "accept":
        folder = field(body, "folder", str)
        new_tags = str_list(body, "tags")
        people = str_list(body, "people")
        if folder is None:
            if not suggested:
                raise Conflict(f"photo {photo.id} has no suggestion to accept; give a folder or use fix")
            folder = suggested[0]["folder"]
        if new_tags is not None:
            tags.set_user_tags(photo, new_tags)
        decision = library.file_photo(photo, folder, settings, action="accept", suggested=suggested,
                                      tags=new_tags, people=people, device=device_name)
    else:
        folder = field(body, "folder", str, required=True)
        create = field(body, "create", bool, default=False)
        new_tags = str_list(body, "tags")
        people = str_list(body, "people")
        if create:
            if library.normalise_folder(folder):
                library.create_folder(settings, folder)
        elif not library.resolve_in_library(settings, folder).is_dir():
            raise NotFound(f"folder {folder!r} does not exist; send create: true to make it")
        if new_tags is not None:
            tags.set_user_tags(photo, new_tags)
        decision = library.file_photo(photo, folder, settings, action="fix", suggested=suggested,
                                      tags=new_tags, people=people, device=device_name)
    return {"decision": decision_json(decision), "photo": photo_json(Photo.get_or_404(photo.id))}


def undo(settings, decision_id) -> dict:
    if decision_id is not None and (isinstance(decision_id, bool) or not isinstance(decision_id, int)):
        raise BadRequest("'decision_id' must be an integer")
    decision = library.undo(settings, decision_id)
    return {"decision": decision_json(decision), "photo": photo_json(Photo.get_or_404(decision.photo_id))}


def _settings():
    return current_app.config["JAICAT_SETTINGS"]


@bp.get("/review")
def queue():
    rows, nxt, count = library.review_queue(limit_arg(), request.args.get("cursor") or None)
    return jsonify({"items": [photo_json(p) for p in rows], "next_cursor": nxt, "count": count})


def _act(photo_id: int, action: str):
    body = json_body(optional=True)
    return jsonify(decide(_settings(), g.device.name, photo_id, action, body))


@bp.post("/review/<int:photo_id>/accept")
def accept(photo_id: int):
    return _act(photo_id, "accept")


@bp.post("/review/<int:photo_id>/fix")
def fix(photo_id: int):
    return _act(photo_id, "fix")


@bp.post("/review/<int:photo_id>/skip")
def skip(photo_id: int):
    return _act(photo_id, "skip")


@bp.post("/review/undo")
def undo_route():
    body = json_body(optional=True)
    return jsonify(undo(_settings(), field(body, "decision_id", int)))


@bp.get("/decisions")
def decisions():
    cursor = request.args.get("cursor")
    if cursor and not re.fullmatch(r"[0-9]{1,18}", cursor):
        raise BadRequest("invalid cursor")
    rows, nxt = library.decision_log(limit_arg(), int(cursor) if cursor else None)
    return jsonify({"items": [decision_json(d) for d in rows],
                    "next_cursor": str(nxt) if nxt else None})
