"""Resumable uploads over HTTP: a thin shell over jaicat.photos.uploads."""

from __future__ import annotations

import re

from flask import Blueprint, g, jsonify, request
from werkzeug.exceptions import ClientDisconnected, HTTPException

from . import runtime, settings
from ..photos import uploads
from ..errors import IngestError, JaicatError
from .errors import error_response
from .params import BadRequest, field, json_body
from .serving import STALL_SECONDS
from .serving.rawbody import body_source
from .serialize import upload_json

bp = Blueprint("uploads", __name__, url_prefix="/api/uploads")
DISCARD_LIMIT = 64 * 1024 * 1024  # beyond this, closing the connection is cheaper than reading on


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
    except JaicatError:
        _discard_body()
        raise
    finally:
        if source is not request.stream:
            source.close()
    return jsonify(upload_json(up, settings()))


def _discard_body(limit: int = DISCARD_LIMIT) -> None:
    """Read and drop the unread rest of a refused chunk, so the phone's keep-alive connection stays
    usable for its next request (gunicorn drops a connection with more than 64 KiB left unread)."""
    left = limit
    try:
        while left > 0 and (buf := request.stream.read(min(1024 * 1024, left))):
            left -= len(buf)
    except (OSError, ValueError, HTTPException):
        pass


@bp.delete("/<upload_id>")
def delete(upload_id: str):
    runtime().uploads.delete(upload_id, g.device.id)
    return "", 204
