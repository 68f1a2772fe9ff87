"""What a `jaicat` command on this machine asks the running server to do as a job (commands.py):
import files and folders, a learning log, annotations, people; write sidecars; re-match and regroup
faces. These routes name paths on this machine, so they take only the local credential from a
loopback peer (devices/local_api.py): a phone's or any paired device's token gets `403 local_only`."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from ..commands import KINDS
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
    """Queue the command job `kind` with the JSON body as its parameters: `202` Job."""
    return jsonify(job_json(runtime().commands.start(kind, json_body(optional=True)))), 202


for _kind, (_check, _work, _path) in KINDS.items():
    bp.add_url_rule(f"/{_path}", f"start_{_kind.replace('-', '_')}", start, methods=["POST"],
                    defaults={"kind": _kind})
