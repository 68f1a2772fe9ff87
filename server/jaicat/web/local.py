"""What a `jaicat` command on this machine asks the running server to do (commands/): every command
that changes things, one route per kind. A long one (import, a learning log, annotations, people,
sidecars, re-matching faces) is queued as a job (`202` Job, its result in `GET /api/jobs/<id>`);
a short one is done in the request (`200`, its result). These routes name paths on this machine, so
they take only the local credential from a loopback peer (devices/local_api.py): a phone's or any
paired device's token gets `403 local_only`."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from .. import commands
from ..errors import LocalOnly
from . import runtime
from .params import json_body
from .serialize import job_json

bp = Blueprint("local", __name__, url_prefix="/api/local")


@bp.before_request
def only_the_local_credential():
    if not getattr(g.get("device"), "local", False):
        raise LocalOnly("only a jaicat command on the server's machine (with its local credential) may ask this")


def start(kind: str):
    """The command `kind` with the JSON body as its parameters: queued (`202` Job) or done (`200` result)."""
    body, rt = json_body(optional=True), runtime()
    if commands.kind(kind).job:
        return jsonify(job_json(rt.commands.start(kind, body))), 202
    return jsonify(commands.run(kind, rt, commands.check(kind, body)))


for _name, _kind in commands.KINDS.items():
    bp.add_url_rule(f"/{_kind.route}", f"start_{_name.replace('-', '_')}", start, methods=["POST"],
                    defaults={"kind": _name})
