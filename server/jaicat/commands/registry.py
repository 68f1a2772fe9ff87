"""Every command kind by name, and the three things done with one: check, route, run."""

from __future__ import annotations

from ..errors import InvalidInput
from . import analysis, people, photos, suggest
from .base import Kind, Progress

KINDS: dict[str, Kind] = {k.name: k for k in (*photos.KINDS, *people.KINDS, *suggest.KINDS, *analysis.KINDS)}


def kind(name: str) -> Kind:
    if name not in KINDS:
        raise InvalidInput(f"no such command: {name}")
    return KINDS[name]


def check(name: str, params: dict | None) -> dict:
    """`params` checked and normalised for the kind `name`; InvalidInput says what is wrong."""
    return kind(name).check(params if params is not None else {})


def route(name: str) -> str:
    """The path the running server takes the kind `name` at."""
    return f"/api/local/{kind(name).route}"


def run(name: str, rt, params: dict, progress: Progress | None = None) -> dict:
    """Do the kind `name` now in this process with the runtime `rt`'s objects; its result."""
    return kind(name).work(rt, params, progress or (lambda d, t, s: None))
