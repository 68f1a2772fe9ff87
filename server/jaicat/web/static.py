"""The PWA shell (no token: the pairing screen must load) and the CA certificate download."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, send_from_directory

from . import settings
from ..devices import tls
from ..errors import NotFound

bp = Blueprint("shell", __name__)


def pwa_dir() -> Path:
    return current_app.config["JAICAT_PWA_DIR"]


def _send(rel: str, max_age: int = 0):
    root = pwa_dir()
    if not root.is_dir():
        raise NotFound("the PWA is not installed beside the server (see README: Quick start)")
    resp = send_from_directory(root, rel, conditional=True, max_age=max_age)
    if max_age == 0:
        resp.cache_control.no_cache = True
    return resp


@bp.get("/")
@bp.get("/index.html")
def index():
    return _send("index.html")


@bp.get("/manifest.webmanifest")
def manifest():
    resp = _send("manifest.webmanifest")
    resp.mimetype = "application/manifest+json"
    return resp


@bp.get("/sw.js")
def service_worker():
    resp = _send("sw.js")
    resp.headers["Service-Worker-Allowed"] = "/"
    resp.mimetype = "text/javascript"
    return resp


# The service worker precaches a versioned shell, so these may be revalidated cheaply (ETag).
@bp.get("/js/<path:rel>")
def js(rel: str):
    resp = _send(f"js/{rel}")
    if rel.endswith(".js"):
        resp.mimetype = "text/javascript"
    return resp


@bp.get("/css/<path:rel>")
def css(rel: str):
    return _send(f"css/{rel}")


@bp.get("/icons/<path:rel>")
def icons(rel: str):
    return _send(f"icons/{rel}", max_age=86400)


@bp.get("/ca.crt")
def ca_cert():
    p = tls.cert_paths(settings().data_dir).ca_cert
    if not p.is_file():
        raise NotFound("this server has no local CA; start it with --https to create one")
    return send_from_directory(p.parent, p.name, mimetype="application/x-x509-ca-cert",
                               as_attachment=True, download_name="jaicat-ca.crt", max_age=0)
