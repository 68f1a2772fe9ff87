"""Docs that cannot drift: every config key and every CLI command appears in the README; every event
name and every error code appears in docs/API.md."""

from __future__ import annotations

import argparse
from pathlib import Path

from jaicat import errors, events
from jaicat.cli.main import build_parser
from jaicat.config import CONFIG_KEYS
from jaicat.web.app import create_app  # noqa: F401 - imports every module that may define an error
from jaicat.web.errors import HTTP_CODES

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
API = (ROOT / "docs" / "API.md").read_text(encoding="utf-8")


def _commands(parser: argparse.ArgumentParser, prefix: str = "jaicat"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix} {name}"
                yield from _commands(sub, f"{prefix} {name}")


def test_every_config_key_is_documented():
    missing = [k for k in CONFIG_KEYS if f"`{k}`" not in README]
    assert not missing, f"README lacks config keys: {missing}"


def test_every_cli_command_is_documented():
    missing = [c for c in _commands(build_parser()) if f"`{c}" not in README]
    assert not missing, f"README lacks commands: {missing}"


def _error_classes(cls=errors.JaicatError):
    yield cls
    for sub in cls.__subclasses__():
        yield from _error_classes(sub)


def test_every_event_name_is_documented():
    names = [v for k, v in vars(events).items() if k.isupper() and isinstance(v, str) and "." in v]
    assert set(names) == set(events.EVENT_NAMES), "every event name constant is in EVENT_NAMES"
    missing = [n for n in names if f'"type": "{n}"' not in API]
    assert not missing, f"docs/API.md lacks events: {missing}"


def test_every_error_code_is_documented_and_defined_in_one_place():
    classes = list(_error_classes())
    elsewhere = [c.__qualname__ for c in classes if c.__module__ != errors.__name__]
    assert not elsewhere, f"define domain errors in jaicat/errors.py: {elsewhere}"
    codes = {c.code for c in classes} | set(HTTP_CODES.values()) | {"internal_error"}
    missing = sorted(c for c in codes if f"`{c}`" not in API)
    assert not missing, f"docs/API.md lacks error codes: {missing}"
