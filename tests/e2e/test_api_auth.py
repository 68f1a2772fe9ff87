"""Against the real server: no token, no access — on every documented route and on /ws."""

from __future__ import annotations

import re
import time

import pytest
import requests
import websocket

PUBLIC = {"/api/health", "/api/pair", "/ca.crt", "/", "/index.html", "/manifest.webmanifest", "/sw.js",
          "/js/{rel}", "/css/{rel}", "/icons/{rel}"}


def test_every_protected_route_refuses_without_token(live_server):
    doc = live_server.get("/api/openapi.json").json()
    checked = 0
    for path, ops in doc["paths"].items():
        if path in PUBLIC or path == "/ws":
            continue
        url = re.sub(r"\{[a-z_]+\}", "1", path)
        for method in ops:
            r = requests.request(method.upper(), live_server.url + url, timeout=10)
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.json()["error"] == "unauthorized"
            bad = requests.request(method.upper(), live_server.url + url, timeout=10,
                                   headers={"Authorization": "Bearer not-a-token"})
            assert bad.status_code == 401
            checked += 1
    assert checked > 30
    # unknown API paths too: nothing under /api/ answers without a token
    assert requests.get(live_server.url + "/api/secret", timeout=10).status_code == 401


def test_websocket_refuses_without_token(live_server):
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        websocket.create_connection(live_server.ws_url, timeout=10)
    assert e.value.status_code == 401
    with pytest.raises(websocket.WebSocketBadStatusException):
        websocket.create_connection(live_server.ws_url + "?token=wrong", timeout=10)
    ws = websocket.create_connection(f"{live_server.ws_url}?token={live_server.token}", timeout=10)
    try:
        import json

        hello = json.loads(ws.recv())
        assert hello["type"] == "hello" and hello["device"]["id"] == live_server.device_id
    finally:
        ws.close()
    time.sleep(0.3)
    log = live_server.log()
    assert '"GET /ws"' in log and live_server.token not in log  # the access log drops query strings


def test_public_routes_answer_without_token(live_server):
    assert requests.get(live_server.url + "/api/health", timeout=10).json()["ok"] is True
    shell = requests.get(live_server.url + "/", timeout=10)
    assert shell.status_code == 200 and "html" in shell.headers["Content-Type"]
    sw = requests.get(live_server.url + "/sw.js", timeout=10)
    assert sw.status_code == 200 and sw.headers["Service-Worker-Allowed"] == "/"


def test_pair_code_from_another_process_pairs_a_second_phone(live_server):
    code = live_server.pair_code()
    r = requests.post(live_server.url + "/api/pair", json={"code": code, "name": "second phone"}, timeout=10)
    assert r.status_code == 201
    token = r.json()["token"]
    assert requests.get(live_server.url + "/api/photos", timeout=10,
                        headers={"Authorization": f"Bearer {token}"}).status_code == 200
    out = live_server.cli("devices").stdout
    assert "second phone" in out and "active" in out
    live_server.cli("devices", "--revoke", str(r.json()["device"]["id"]))
    assert requests.get(live_server.url + "/api/photos", timeout=10,
                        headers={"Authorization": f"Bearer {token}"}).status_code == 401
