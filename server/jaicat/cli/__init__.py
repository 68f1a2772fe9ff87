"""Command line: `jaicat <command>`. Thin: parse, call the domain, print.

Each module in this package contributes subcommands through `register(subparsers)`; handlers take
`(args, settings)` and return an exit code. Domain errors print `error: ...` and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__
from ..config import load_settings
from ..errors import JaicatError

COMMAND_MODULES = ("core", "server", "ml", "faces", "suggest", "ops")


def open_catalogue(settings):
    """Create the data directories, open (and migrate) the catalogue, and hook sidecar writing into
    filing so `jaicat file` / `jaicat undo` keep XMP sidecars in step. (The suggester needs no hook
    here: it catches up from the Decision log whenever it loads.)"""
    from .. import xmp
    from ..db import open_db

    settings.ensure_dirs()
    db = open_db(settings.db_path)
    xmp.install(settings)
    return db


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jaicat", description="Jaicat photo companion")
    parser.add_argument("--version", action="version", version=f"jaicat {__version__}")
    parser.add_argument("--data-dir", help="data directory (default: $JAICAT_DATA_DIR or ./jaicat-data)")
    parser.add_argument("--config", help="TOML config file (default: <data-dir>/jaicat.toml)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"{__name__}.{name}":
                continue
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        settings = load_settings(data_dir=args.data_dir, config_file=args.config)
        return int(args.func(args, settings) or 0)
    except JaicatError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
