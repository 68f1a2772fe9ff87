"""The application factory. No side effects beyond binding the catalogue: starting the runtime (the
suggester's learning, the worker), zeroconf and the pairing code belong to `jaicat serve` (cli/web.py),
so tests build apps freely."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, current_app
from werkzeug.routing import IntegerConverter

import jaicat

from ..config import Settings
from ..db import database, open_db
from ..devices import pairing
from ..devices.pairing import AttemptLimiter
from ..runtime import Runtime
from . import (auth, browse, folders, jobs, local, openapi, options, people, photos, regions, review, search, static,
               suggest, trash, uploads)
from .errors import register_error_handlers
from .ws import OpenSockets, check_handshake, release_socket, reserve_socket, sock


def default_pwa_dir() -> Path:
    return Path(jaicat.__file__).resolve().parents[2] / "pwa"


class SqliteInt(IntegerConverter):
    """`<int:...>` limited to SQLite's integer range: a bigger id is a 404, not an overflow."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


# The PWA loads only its own scripts (no inline script or style element), talks only to this server
# (images also from the map tile host the settings name: csp_for),
# shows thumbnails as blob: URLs, and is never framed.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
       "connect-src 'self'; worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")


def csp_for(settings: Settings) -> str:
    """CSP with the map's tile host (`map_tiles`, loaded by the phone itself) allowed as an image source,
    and nothing else from elsewhere."""
    tiles = urlsplit(settings.map_tiles or "")
    if tiles.scheme not in ("https", "http") or not tiles.netloc:
        return CSP
    return CSP.replace("img-src 'self' blob: data:", f"img-src 'self' blob: data: {tiles.scheme}://{tiles.netloc}")


def security_headers(resp):
    """Headers every response carries (after_request)."""
    h = resp.headers
    h.setdefault("Content-Security-Policy", current_app.config.get("JAICAT_CSP", CSP))
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "no-referrer")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    h.setdefault("Cross-Origin-Resource-Policy", "same-origin")
    return resp


def create_app(settings: Settings, runtime: Runtime | None = None) -> Flask:
    """The Flask app for `settings`; `runtime` is the one `jaicat serve` started, else a new one that
    nothing starts (its suggester still suggests, loading lazily; its worker does not run)."""
    settings.ensure_dirs()
    open_db(settings.db_path)
    app = Flask(__name__, static_folder=None)
    app.url_map.converters["int"] = SqliteInt
    app.json.sort_keys = False
    pwa = getattr(settings, "pwa_dir", None)
    app.config.update(
        JAICAT_SETTINGS=settings,
        JAICAT_CSP=csp_for(settings),
        JAICAT_PWA_DIR=Path(pwa).expanduser() if pwa else default_pwa_dir(),
        # we ping in JSON (web/ws.py) so the PWA sees it; a phone's messages are small JSON
        SOCK_SERVER_OPTIONS={"ping_interval": None, "max_message_size": 64 * 1024},
    )
    app.extensions["jaicat"] = runtime if runtime is not None else Runtime(settings)
    app.extensions["jaicat_pair_limiter"] = AttemptLimiter()
    open_sockets = app.extensions["jaicat_sockets"] = OpenSockets()
    pairing.device_revoked.connect(open_sockets.close_device)

    # One connection per server thread, kept open: closing the last connection to a WAL database
    # checkpoints and fsyncs it, which cost ~10 ms per request (peewee connections are thread-local).
    @app.before_request
    def _connect():
        database.connect(reuse_if_open=True)
        auth.require_token()
        auth.require_same_origin()
        check_handshake()
        reserve_socket()

    app.after_request(security_headers)
    app.teardown_request(release_socket)

    for module in (auth, static, uploads, photos, trash, browse, regions, review, folders, search, suggest, people, jobs,
                   local, options, openapi):
        app.register_blueprint(module.bp)
    sock.init_app(app)
    register_error_handlers(app)
    return app
