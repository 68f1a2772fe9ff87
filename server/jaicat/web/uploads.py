"""Resumable uploads over HTTP: a thin shell over jaicat.photos.uploads."""

from __future__ import annotations

import re

from flask import Blueprint, g, jsonify, request
from werkzeug.exceptions import ClientDisconnected

from . import runtime, settings
from ..photos import uploads
from ..errors import IngestError
from .errors import error_response
from .params import BadRequest, field, json_body
from .serving import STALL_SECONDS
from .serving.rawbody import body_source
from .serialize import upload_json

bp = Blueprint("uploads", __name__, url_prefix="/api/uploads")


@bp.post("/check")
def check():
    body = json_body()
    digests = field(body, "sha256", list, required=True)
    known, missing = uploads.check_known(digests)
    return jsonify({"known": known, "missing": missing})


@bp.post("")
def create():
    body = json_body()
    up = uploads.create_upload(
        settings(), g.device.id, field(body, "filename", str, required=True),
        field(body, "size", int, required=True), sha256=field(body, "sha256", str),
        mime=field(body, "mime", str))
    return jsonify(upload_json(up, settings())), 201


@bp.get("")
def pending():
    return jsonify({"items": [upload_json(u, settings()) for u in uploads.pending_uploads(settings(), g.device.id)]})


@bp.get("/<upload_id>")
def status(upload_id: str):
    return jsonify(upload_json(uploads.get_upload(upload_id, g.device.id), settings()))


@bp.patch("/<upload_id>")
def chunk(upload_id: str):
    raw = request.args.get("offset")
    if raw is None or not re.fullmatch(r"[0-9]{1,19}", raw):
        raise BadRequest("query parameter 'offset' (a non-negative integer) is required")
    # A phone that leaves the Wi-Fi mid-chunk sends no FIN: the front's sockets give up after
    # STALL_SECONDS without a byte (serving.front.TimedSocket), and so does the splice path.
    # A refused chunk (unknown or foreign upload, wrong offset, too many at once) is answered before
    # its body is read, and the rest is not read on: the front keeps the connection if it already
    # came, else closes it off-thread (serving.front._keepalive_after). Reading it here let a paired
    # device hold every request thread with stalled bodies.
    source = body_source(request.environ, request.stream, STALL_SECONDS)
    try:
        up, _result = runtime().uploads.write_chunk(upload_id, int(raw), source, length=request.content_length,
                                                    device_id=g.device.id, device_name=g.device.name)
    except (TimeoutError, ConnectionError, ClientDisconnected) as e:  # bytes that arrived are kept
        return error_response("client_gone", f"the chunk stopped arriving ({e.__class__.__name__}); "
                              "GET the upload and continue from its offset", 408)
    except IngestError as e:
        up = uploads.get_upload(upload_id, g.device.id)
        return error_response(e.code, e.message, e.status, upload=upload_json(up, settings()))
    finally:
        if source is not request.stream:
            source.close()
    return jsonify(upload_json(up, settings()))


@bp.delete("/<upload_id>")
def delete(upload_id: str):
    runtime().uploads.delete(upload_id, g.device.id)
    return "", 204
