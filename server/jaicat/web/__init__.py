"""The HTTP and websocket layer: a thin Flask shell over the domain modules (see docs/API.md)."""

from __future__ import annotations

from flask import current_app


def runtime():
    """The jaicat.runtime.Runtime (suggester, worker) of the app handling this request."""
    return current_app.extensions["jaicat"]
