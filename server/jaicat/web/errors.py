"""One place that turns exceptions into JSON error responses: {"error": code, "message": text}."""

from __future__ import annotations

import json
import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from . import settings
from ..errors import JaicatError

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 411: "length_required",
    413: "payload_too_large", 414: "uri_too_long", 415: "unsupported_media_type",
    416: "range_not_satisfiable", 422: "unprocessable", 429: "rate_limited",
}


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
        log.exception("unhandled error")
        return error_response("internal_error", "internal server error; see the server log", 500)
