"""The household's settings the phone changes at runtime (`/api/settings`): today `auto_file`."""

from __future__ import annotations

from flask import Blueprint, jsonify

from . import runtime
from .params import BadRequest, json_body

bp = Blueprint("options", __name__, url_prefix="/api")

CHANGEABLE = ("auto_file",)


@bp.get("/settings")
def read():
    return jsonify(runtime().auto_filer.state())


@bp.patch("/settings")
def change():
    body = json_body()
    unknown = sorted(set(body) - set(CHANGEABLE))
    if unknown or not body:
        raise BadRequest(f"send one of {', '.join(CHANGEABLE)}" + (f"; not {', '.join(unknown)}" if unknown else ""))
    value = body["auto_file"]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadRequest("'auto_file' must be \"off\" or a number")
    runtime().auto_filer.set_target(value)  # InvalidInput (400) names what it takes
    return jsonify(runtime().auto_filer.state())
