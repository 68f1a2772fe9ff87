"""Command line: `jaicat <command>` (main.py). Thin: parse, call the domain, print.

One module per concept (photos, people, search, pipeline, suggest, xmp, devices, backup, web)
contributes subcommands through `register(subparsers)`; handlers take `(args, settings)` and return
an exit code. Domain errors print `error: ...` and exit 2.
"""

from __future__ import annotations


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
