"""Reading request input strictly: anything malformed is a 400 with a clear message, never a 500."""

from __future__ import annotations

import datetime as dt
import json
import re

from flask import request

from ..errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

MAX_JSON_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 64
MAX_INT = 2**63 - 1  # SQLite's integer range


def json_body(optional: bool = False) -> dict:
    """The request's JSON object body ({} if optional and absent).

    At most MAX_JSON_BYTES are read whatever the transfer encoding (a chunked body has no
    Content-Length to check first), and nesting deeper than MAX_JSON_DEPTH is refused before parsing
    (Python's parser recurses, so a deep enough document would crash it)."""
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise PayloadTooLarge(f"JSON body over {MAX_JSON_BYTES} bytes")
    raw = request.stream.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise PayloadTooLarge(f"JSON body over {MAX_JSON_BYTES} bytes")
    if not raw.strip():
        if optional:
            return {}
        raise BadRequest("a JSON object body is required")
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("send the body as Content-Type: application/json")
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise PayloadTooLarge(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON (UTF-8)") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in `raw` (brackets inside strings do not count)."""
    depth = deepest = 0
    for m in _JSON_TOKENS.finditer(raw):
        t = m.group()
        if t in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif t in (b"]", b"}"):
            depth -= 1
    return deepest


def field(body: dict, name: str, typ, required: bool = False, default=None):
    """body[name] checked against `typ` (a type or tuple); bool is never accepted as int."""
    if name not in body or body[name] is None:
        if required:
            raise BadRequest(f"{name!r} is required")
        return default
    value = body[name]
    types = typ if isinstance(typ, tuple) else (typ,)
    if isinstance(value, bool) and bool not in types:
        raise BadRequest(f"{name!r} must be {_names(types)}")
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, types):
        raise BadRequest(f"{name!r} must be {_names(types)}")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        raise BadRequest(f"{name!r} is out of range")
    return value


def str_list(body: dict, name: str, max_items: int = 500) -> list[str] | None:
    value = field(body, name, list)
    if value is None:
        return None
    if len(value) > max_items or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{name!r} must be a list of at most {max_items} strings")
    return value


def id_list(body: dict, name: str = "ids", max_items: int = 1000) -> list[int]:
    """A required, non-empty list of positive integer ids (at most `max_items`), duplicates dropped."""
    value = field(body, name, list, required=True)
    if not value or len(value) > max_items or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_INT for v in value):
        raise BadRequest(f"{name!r} must be a list of 1 to {max_items} photo ids")
    return list(dict.fromkeys(value))


def _names(types) -> str:
    return " or ".join({int: "an integer", float: "a number", str: "a string", bool: "true/false",
                        list: "a list", dict: "an object"}.get(t, t.__name__) for t in types)


def arg_int(name: str, default: int | None = None, lo: int | None = None, hi: int | None = None) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"query parameter {name!r} must be an integer") from None
    if abs(value) > MAX_INT:
        raise BadRequest(f"query parameter {name!r} is out of range")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise BadRequest(f"query parameter {name!r} must be between {lo} and {hi}")
    return value


def arg_date(name: str) -> dt.date | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"query parameter {name!r} must be a date YYYY-MM-DD") from None


def limit_arg(default: int = 50) -> int:
    return arg_int("limit", default, 1, 200)


def int_cursor(cursor: str | None) -> int:
    """A numeric pagination cursor (a rank offset or an id); 0 when absent."""
    if cursor is None:
        return 0
    if not re.fullmatch(r"[0-9]{1,18}", cursor):
        raise BadRequest("invalid cursor")
    return int(cursor)
