"""What every command kind is made of: `Kind` (check + work), and the checks of its parameters.

A kind's parameters are a JSON object, checked the same way in the command (before it asks the
running server) and in the server (before it works): `check(params) -> params`, InvalidInput naming
what is wrong. Paths must be absolute: the server does not run in the command's working directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import InvalidInput

Progress = Callable[[int, int, str], None]  # (done, total, stage)
MAX_NAME = 500  # characters of a folder, tag or person name, or a photo reference
MAX_REFS = 10_000  # photos one command names


@dataclass(frozen=True)
class Kind:
    """One command kind: `check` its parameters, `work(runtime, params, progress) -> result`.

    `job`: the running server works it as a queued job with progress (long work); else it answers in
    the request. `learns`: done in the command's own process, the suggester hears what it changes
    (runtime.connect), else the catalogue is only opened (runtime.open). `route` is its path under
    /api/local/; `summary` and `body` (the parameters' JSON schema) describe it in the OpenAPI document.
    `stage`: the stage its progress starts in, shown by a command at once (a short job of the server
    may be done before the command first looks at it)."""

    name: str
    route: str
    summary: str
    check: Callable[[dict], dict]
    work: Callable[[Any, dict, Progress], dict]
    body: dict | None = None
    job: bool = False
    learns: bool = False
    stage: str = ""


# --- JSON schemas of the parameters (the OpenAPI document) ------------------------------------------
STR, INT, BOOL = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
PATH = {"type": "string", "description": "absolute path on the server's machine"}
REF = {"type": "string", "description": "photo id or sha256 prefix (at least 8 characters)"}


def schema(props: dict, *required: str) -> dict:
    out: dict = {"type": "object", "properties": props}
    if required:
        out["required"] = list(required)
    return out


# --- checks ----------------------------------------------------------------------------------------
def only(params: dict, *names: str) -> dict:
    """`params` if it is an object naming only `names`."""
    if not isinstance(params, dict):
        raise InvalidInput("the parameters must be a JSON object")
    extra = sorted(set(params) - set(names))
    if extra:
        raise InvalidInput(f"unknown parameter {extra[0]!r} (expected {', '.join(names) or 'none'})")
    return params


def path(params: dict, name: str, kind: str) -> str:
    """An absolute path of an existing `kind` ("file" or "folder")."""
    value = params.get(name)
    if not isinstance(value, str) or not value or "\0" in value:
        raise InvalidInput(f"{name!r} must be the path of a {kind}")
    if not os.path.isabs(value):
        raise InvalidInput(f"{name!r} must be an absolute path (the server does not run in your folder): {value}")
    if kind == "folder" and not os.path.isdir(value):
        raise InvalidInput(f"not a folder: {value}")
    if kind == "file" and not os.path.isfile(value):
        raise InvalidInput(f"no such file: {value}")
    return value


def flag(params: dict, name: str, default: bool = False) -> bool:
    value = params.get(name, default)
    if not isinstance(value, bool):
        raise InvalidInput(f"{name!r} must be true or false")
    return value


def text(params: dict, name: str) -> str:
    """A required name (folder, tag, person): a string of 1 to MAX_NAME characters."""
    value = params.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME or "\0" in value:
        raise InvalidInput(f"{name!r} must be a name of 1 to {MAX_NAME} characters")
    return value


def number(params: dict, name: str, minimum: int = 1, required: bool = True) -> int | None:
    """An integer of at least `minimum` (None when absent and not `required`)."""
    value = params.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value < 2**63:
        raise InvalidInput(f"{name!r} must be an integer of at least {minimum}")
    return value


def names(params: dict, name: str, limit: int = MAX_REFS) -> list[str]:
    """A list of at most `limit` names or references (photo ids are taken as their digits)."""
    value = params.get(name, [])
    if isinstance(value, list):
        value = [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
    if not isinstance(value, list) or len(value) > limit or not all(
            isinstance(v, str) and v.strip() and len(v) <= MAX_NAME and "\0" not in v for v in value):
        raise InvalidInput(f"{name!r} must be a list of at most {limit} names of 1 to {MAX_NAME} characters")
    return value


def nothing(params: dict) -> dict:
    only(params)
    return {}
