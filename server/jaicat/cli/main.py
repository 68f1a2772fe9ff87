"""`jaicat` entry point: build the parser from every command module and run one command."""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..config import load_settings
from ..errors import JaicatError
from ..runtime import WRITER_WAIT, Runtime, one_blas_thread
from .remote import ask_server
from . import backup, devices, people, photos, pipeline, search, suggest, trash, web, xmp


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jaicat", description="Jaicat photo companion")
    parser.add_argument("--version", action="version", version=f"jaicat {__version__}")
    parser.add_argument("--data-dir", help="data directory (default: $JAICAT_DATA_DIR or ./jaicat-data)")
    parser.add_argument("--config", help="TOML config file (default: <data-dir>/jaicat.toml)")
    parser.add_argument("--lock-wait", type=float, default=WRITER_WAIT, metavar="SECONDS",
                        help="how long a command that changes things waits for another one to finish "
                             f"(default {WRITER_WAIT:g})")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (web, devices, photos, trash, pipeline, search, people, suggest, xmp, backup):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    one_blas_thread()  # a process-wide setting, taken in the main thread before anything runs
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    runtime = None
    try:
        runtime = Runtime(load_settings(data_dir=args.data_dir, config_file=args.config))
        # a command that changes things takes the data directory, or asks the server that has it
        writes = getattr(args, "writes", False)
        args.server = ask_server(runtime, f"jaicat {args.command}", args.lock_wait) if writes else None
        return int(args.func(args, runtime) or 0)
    except JaicatError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if runtime is not None:
            runtime.close()
