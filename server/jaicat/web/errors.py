"""One place that turns exceptions into JSON error responses: {"error": code, "message": text}."""

from __future__ import annotations

import errno
import json
import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from . import settings
from ..errors import InsufficientStorage, JaicatError

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 411: "length_required",
    413: "payload_too_large", 414: "uri_too_long", 415: "unsupported_media_type",
    416: "range_not_satisfiable", 422: "unprocessable", 429: "rate_limited",
}
_DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
DISK_FULL_MESSAGE = ("the server's disk is full; nothing was changed. Free some space on the server "
                     "(or move its data directory to a bigger disk) and try again")


def disk_full(e: BaseException) -> bool:
    """Whether `e` (or what it was raised from) says the disk is full: OSError ENOSPC/EDQUOT, or
    SQLite's "database or disk is full" (SQLITE_FULL)."""
    seen = 0
    while e is not None and seen < 5:
        if isinstance(e, OSError) and e.errno in _DISK_FULL_ERRNOS:
            return True
        if e.__class__.__name__ in ("OperationalError", "DatabaseError") and "disk is full" in str(e):
            return True
        e, seen = e.__cause__ or e.__context__, seen + 1
    return False


def _log_quietly(message: str, exc: bool = True) -> None:
    """Log, never fail: on a full disk the log itself may be what cannot be written."""
    try:
        (log.exception if exc else log.error)(message)
    except Exception:  # noqa: BLE001 - the answer to the client matters more than the log line
        pass


def _jsonable(details: dict) -> dict:
    out = {}
    for k, v in details.items():
        try:
            json.dumps(v)
        except (TypeError, ValueError):
            continue
        out[k] = v
    return out


def error_response(code: str, message: str, status: int, **extra):
    body = {"error": code, "message": message, **extra}
    resp = jsonify(body)
    resp.status_code = status
    return resp


def without_server_paths(text: str) -> str:
    """`text` with the server's own directories named, not spelled out: a phone has no use for the
    absolute path of the library, and anyone on the network would learn the user's name from it."""
    if not isinstance(text, str):
        return text
    conf = settings()
    for name, path in (("library", conf.library), ("data directory", conf.data_dir)):
        for spelled in {str(path), str(path.resolve())}:
            if len(spelled) > 1:
                text = text.replace(spelled + "/", "").replace(spelled, f"the {name}")
    return text


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(JaicatError)
    def _domain(e: JaicatError):
        details = {k: without_server_paths(v) for k, v in _jsonable(e.details).items()}
        return error_response(e.code, without_server_paths(e.message), e.status, **details)

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):
        status = e.code or 500
        resp = error_response(HTTP_CODES.get(status, "error"), e.description or e.name, status)
        if status == 405 and e.get_response().headers.get("Allow"):
            resp.headers["Allow"] = e.get_response().headers["Allow"]
        return resp

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        if disk_full(e):
            _log_quietly(f"disk full: {e}", exc=False)
            return error_response(InsufficientStorage.code, DISK_FULL_MESSAGE, InsufficientStorage.status)
        _log_quietly("unhandled error")
        return error_response("internal_error", "internal server error; see the server log", 500)
