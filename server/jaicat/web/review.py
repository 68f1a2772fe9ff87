"""The review queue: suggestions to accept, fix or skip, and undo. Shared by HTTP and the websocket."""

from __future__ import annotations

import re

from flask import Blueprint, g, jsonify, request

from ..photos import library
from ..suggest.review import SURE
from . import runtime
from .params import BadRequest, field, id_list, json_body, limit_arg, str_list
from .serialize import decision_json, photo_json

bp = Blueprint("review", __name__, url_prefix="/api")

ACTIONS = ("accept", "fix", "skip")


def decide(review, device_name: str | None, photo_id, action: str, body: dict) -> dict:
    """Apply one review action (`review`: the runtime's suggest.review.Review) to a photo; returns
    {"decision", "photo"} as JSON-able dicts."""
    if isinstance(photo_id, bool) or not isinstance(photo_id, int):
        raise BadRequest("'photo_id' must be an integer")
    if action not in ACTIONS:
        raise BadRequest(f"action must be one of {', '.join(ACTIONS)}")
    if action == "skip":
        decision = review.skip(photo_id, device=device_name)
    else:
        folder = field(body, "folder", str, required=action == "fix")
        new_tags, people = str_list(body, "tags"), str_list(body, "people")
        if action == "accept":
            decision = review.accept(photo_id, folder, new_tags, people, device=device_name)
        else:
            decision = review.fix(photo_id, folder, field(body, "create", bool, default=False), new_tags,
                                  people, device=device_name)
    return {"decision": decision_json(decision), "photo": photo_json(review.photo(photo_id))}


def undo(review, decision_id, photo_id=None) -> dict:
    for name, value in (("decision_id", decision_id), ("photo_id", photo_id)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise BadRequest(f"'{name}' must be an integer")
    if decision_id is not None and photo_id is not None:
        raise BadRequest("give 'decision_id' or 'photo_id', not both")
    decision = review.undo(decision_id, photo_id)
    return {"decision": decision_json(decision), "photo": photo_json(review.photo(decision.photo_id))}


@bp.get("/review")
def queue():
    rows, nxt, count = runtime().review.queue(limit_arg(), request.args.get("cursor") or None,
                                              request.args.get("status") or None)
    return jsonify({"items": [photo_json(p) for p in rows], "next_cursor": nxt, "count": count, "sure": SURE})


def _act(photo_id: int, action: str):
    body = json_body(optional=True)
    return jsonify(decide(runtime().review, g.device.name, photo_id, action, body))


@bp.post("/review/<int:photo_id>/accept")
def accept(photo_id: int):
    return _act(photo_id, "accept")


@bp.post("/review/<int:photo_id>/fix")
def fix(photo_id: int):
    return _act(photo_id, "fix")


@bp.post("/review/<int:photo_id>/skip")
def skip(photo_id: int):
    return _act(photo_id, "skip")


@bp.get("/review/<int:photo_id>/group")
def group(photo_id: int):
    folder, rows = runtime().review.group(photo_id)
    return jsonify({"folder": folder, "items": [photo_json(p) for p in rows], "count": len(rows)})


@bp.post("/review/accept-all")
def accept_all():
    body = json_body()
    ids = id_list(body, "photo_ids", max_items=200)
    folder = field(body, "folder", str, required=True)
    decisions = runtime().review.accept_all(ids, folder, device=g.device.name)
    return jsonify({"decisions": [decision_json(d) for d in decisions], "count": len(decisions)})


@bp.post("/review/undo")
def undo_route():
    body = json_body(optional=True)
    return jsonify(undo(runtime().review, field(body, "decision_id", int), field(body, "photo_id", int)))


@bp.post("/review/auto-filed/seen")
def auto_filed_seen():
    """The user saw these auto-filed photos (Review's strip): each one still where it was filed is kept."""
    body = json_body()
    ids = id_list(body, "photo_ids", max_items=200)
    kept = runtime().auto_filer.seen(ids, device=g.device.name)
    return jsonify({"kept": kept, "unseen": runtime().auto_filer.unseen()})


@bp.get("/decisions")
def decisions():
    cursor = request.args.get("cursor")
    if cursor and not re.fullmatch(r"[0-9]{1,18}", cursor):
        raise BadRequest("invalid cursor")
    rows, nxt = library.decision_log(limit_arg(), int(cursor) if cursor else None)
    return jsonify({"items": [decision_json(d) for d in rows],
                    "next_cursor": str(nxt) if nxt else None})
