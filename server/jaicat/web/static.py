"""The PWA shell (no token: the pairing screen must load) and the CA certificate download."""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path

from flask import Blueprint, current_app, request, send_from_directory

from . import settings
from ..devices import tls
from ..errors import NotFound

bp = Blueprint("shell", __name__)
DIGEST_MARK = "{{SHELL_DIGEST}}"  # in pwa/sw.js: const VERSION = "jaicat-shell-{{SHELL_DIGEST}}"
_SHELL_LIST = re.compile(r"const SHELL = \[(.*?)\];", re.S)


class ShellWorker:
    """pwa/sw.js as served: VERSION filled in with a digest of the files its SHELL lists, so an
    installed app gets a fresh cache whenever one of them changes. Worked out once, and again only
    when a shell file's size or modification time changes (a few stat calls per request)."""

    def __init__(self, root: Path):
        self.root = root
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._body = b""

    def shell(self, source: str) -> list[str]:
        block = _SHELL_LIST.search(source)
        return sorted(set(re.findall(r'"([^"]+)"', block.group(1))) - {"./"}) if block else []

    def _stamp(self, rels: list[str]) -> tuple:
        out = []
        for rel in ["sw.js", *rels]:
            try:
                st = (self.root / rel).stat()
                out.append((rel, st.st_size, st.st_mtime_ns))
            except OSError:
                out.append((rel, None, None))
        return tuple(out)

    def body(self) -> bytes:
        with self._lock:
            if self._key is not None and self._stamp([r for r, _, _ in self._key[1:]]) == self._key:
                return self._body
            source = (self.root / "sw.js").read_text(encoding="utf-8")
            rels = self.shell(source)
            h = hashlib.sha256()
            for rel in rels:
                path = (self.root / rel).resolve()
                if path.is_relative_to(self.root.resolve()) and path.is_file():
                    h.update(rel.encode() + b"\0" + path.read_bytes())
            self._key = self._stamp(rels)
            self._body = source.replace(DIGEST_MARK, h.hexdigest()[:10]).encode()
            return self._body


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
    root = pwa_dir()
    if not (root / "sw.js").is_file():
        raise NotFound("the PWA is not installed beside the server (see README: Quick start)")
    workers = current_app.extensions.setdefault("jaicat_shell_workers", {})
    worker = workers.get(root) or workers.setdefault(root, ShellWorker(root))
    resp = current_app.response_class(worker.body(), mimetype="text/javascript")
    resp.headers["Service-Worker-Allowed"] = "/"
    resp.cache_control.no_cache = True
    resp.set_etag(hashlib.sha256(resp.get_data()).hexdigest()[:16])
    return resp.make_conditional(request)


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
