"""Docs that cannot drift: every config key and every CLI command appears in the README."""

from __future__ import annotations

import argparse
from pathlib import Path

from jaicat.cli.main import build_parser
from jaicat.config import CONFIG_KEYS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


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
