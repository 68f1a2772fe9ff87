"""Command line: `jaicat <command>` (main.py). Thin: parse, call the domain, print.

One module per concept (photos, people, search, pipeline, suggest, xmp, devices, backup, web)
contributes subcommands through `register(subparsers)`; handlers take `(args, settings)` and return
an exit code. Domain errors print `error: ...` and exit 2.
"""

from __future__ import annotations


_sidecars = None  # the command's SidecarWriter: one connected per process, the latest settings win


def connect_sidecars(settings, follow: bool = False):
    """Connect a SidecarWriter for `settings` in place of the one connected before; returns it."""
    global _sidecars
    from ..xmp import SidecarWriter

    if _sidecars is not None:
        _sidecars.close()
    _sidecars = SidecarWriter(settings, follow=follow).connect()
    return _sidecars


def close_sidecars() -> None:
    """Disconnect the command's SidecarWriter (main() calls it when a command ends)."""
    global _sidecars
    if _sidecars is not None:
        _sidecars.close()
        _sidecars = None


def open_catalogue(settings):
    """Create the data directories, open (and migrate) the catalogue, and connect the sidecar writer
    so imports pick up XMP and `jaicat file` / `jaicat undo` keep sidecars in step. (The suggester
    needs no receiver here: it catches up from the Decision log whenever it loads.)"""
    from ..db import open_db

    settings.ensure_dirs()
    db = open_db(settings.db_path)
    connect_sidecars(settings)
    return db
