"""The HTTP and websocket layer: a thin Flask shell over the domain modules (see docs/API.md)."""

from __future__ import annotations

from flask import current_app

from ..config import Settings


def runtime():
    """The jaicat.runtime.Runtime (suggester, worker) of the app handling this request."""
    return current_app.extensions["jaicat"]


def settings() -> Settings:
    """The Settings of the app handling this request (create_app's argument)."""
    return current_app.config["JAICAT_SETTINGS"]
