"""Device tokens: who may call the API, and the routes that pair and manage devices."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from . import settings
from .. import __version__
from ..devices import addresses, discovery, local_api, pairing
from ..errors import Forbidden, LocalOnly, Unauthorized
from .params import field, json_body
from .serialize import device_json, iso

COOKIE = "jaicat_token"
# Under /api/ and /ws everything needs a token except these (the pairing screen must work).
PUBLIC_API_PATHS = {"/api/health", "/api/pair"}

bp = Blueprint("auth", __name__)


def request_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    if request.cookies.get(COOKIE):
        return request.cookies.get(COOKIE)
    if request.path == "/ws" and request.args.get("token"):
        return request.args.get("token")
    return None


class LocalCaller:
    """Who calls with the local credential (a `jaicat` command on this machine): stands in for a
    paired device (`g.device`); its decisions are recorded as made by "cli"."""

    id = 0
    name = "cli"
    local = True  # lives as long as the server process: never revoked like a device


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() or None if header[:7].lower() == "bearer " else None


def require_token():
    """before_request hook: refuse protected paths without a valid, unrevoked device token, or the
    local credential (devices/local_api.py) in the Authorization header from a loopback peer."""
    path = request.path
    if not (path.startswith("/api/") or path == "/api" or path == "/ws") or path in PUBLIC_API_PATHS:
        return None
    if current_app.extensions["jaicat"].local.accepts(_bearer()):
        if not local_api.is_loopback(request.remote_addr):
            raise LocalOnly("the local credential is accepted only from this machine")
        g.device = LocalCaller()
        return None
    device = pairing.device_for_token(request_token())
    if device is None:
        raise Unauthorized("a valid device token is required; pair this device first")
    g.device = device
    return None


STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def require_same_origin():
    """before_request hook against cross-site requests: a state-changing request or a websocket that
    says where it comes from (every browser does) must come from this server's own origin; one that
    does not (a command-line client) must carry its token itself, never ride on the cookie."""
    if request.method not in STATE_CHANGING and request.path != "/ws":
        return None
    origin = request.headers.get("Origin")
    if origin is None:
        if request.path in PUBLIC_API_PATHS or not (request.path.startswith("/api/") or request.path == "/ws"):
            return None
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer " or (request.path == "/ws" and request.args.get("token")):
            return None
        raise Forbidden("a request without an Origin header must send its token in the Authorization header")
    if origin.rstrip("/").lower() != request.host_url.rstrip("/").lower():
        raise Forbidden("requests from another site are refused")
    return None


def own_url() -> str:
    """The URL phones reach this server at: the one this request came to if it is one of the server's
    own addresses, else the first of them. Never the Host header alone: anyone can send any Host, and a
    pairing link must not lead a phone to another machine."""
    running = addresses.read_running(settings())
    urls = [u.rstrip("/") for u in (running["urls"] if running else addresses.server_urls(settings()))]
    here = request.host_url.rstrip("/")
    return here if here in urls or not urls else urls[0]


def _set_cookie(resp, token: str) -> None:
    resp.set_cookie(COOKIE, token, max_age=10 * 365 * 86400, httponly=True, samesite="Strict",
                    secure=request.is_secure, path="/")


@bp.get("/api/health")
def health():
    return jsonify({"ok": True, "version": __version__, "server_id": discovery.server_id(),
                    "https": bool(settings().https), "paired": pairing.has_paired_devices()})


@bp.get("/api/server")
def server_facts():
    """What the settings screen shows: version, the addresses phones can use, https."""
    running = addresses.read_running(settings())
    urls = running["urls"] if running else addresses.server_urls(settings())
    return jsonify({"version": __version__, "server_id": discovery.server_id(), "https": bool(settings().https),
                    "urls": urls, "this_url": request.host_url.rstrip("/")})


@bp.post("/api/pair")
def pair():
    body = json_body()
    code = field(body, "code", str, required=True)
    name = field(body, "name", str, default="") or request.user_agent.string[:60] or "phone"
    device, token = pairing.redeem_code(code, name, limiter=current_app.extensions["jaicat_pair_limiter"],
                                        client=request.remote_addr or "")
    resp = jsonify({"token": token, "device": device_json(device, device.id)})
    resp.status_code = 201
    _set_cookie(resp, token)
    return resp


@bp.post("/api/pair/code")
def new_code():
    code, expires = pairing.create_code()
    url = pairing.pair_url(own_url(), code)
    return jsonify({"code": code, "expires_at": iso(expires), "url": url, "qr": pairing.qr_modules(url)}), 201


@bp.get("/api/devices")
def devices():
    return jsonify({"items": [device_json(d, g.device.id) for d in pairing.list_devices()]})


@bp.patch("/api/devices/<int:device_id>")
def rename(device_id: int):
    device = pairing.rename_device(device_id, field(json_body(), "name", str, required=True))
    return jsonify(device_json(device, g.device.id))


@bp.delete("/api/devices/<int:device_id>")
def revoke(device_id: int):
    pairing.revoke_device(device_id)
    resp = current_app.response_class(status=204)
    if device_id == g.device.id:
        resp.delete_cookie(COOKIE, path="/")
    return resp


@bp.post("/api/logout")
def logout():
    pairing.revoke_device(g.device.id)
    resp = current_app.response_class(status=204)
    resp.delete_cookie(COOKIE, path="/")
    return resp

