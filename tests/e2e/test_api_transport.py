"""HTTPS with the local CA, and zeroconf discovery, against the real server on loopback."""

from __future__ import annotations

import json
import ssl

import requests
import websocket
from cryptography import x509


def test_https_serves_with_a_certificate_the_ca_signed(live_server_factory):
    server = live_server_factory(https=True)
    ca = server.data_dir / "certs" / "ca.crt"
    # the CA download needs no token and is the same file
    r = requests.get(server.url + "/ca.crt", verify=str(ca), timeout=10)
    assert r.status_code == 200 and r.content == ca.read_bytes()
    assert x509.load_pem_x509_certificate(r.content).extensions.get_extension_for_class(
        x509.BasicConstraints).value.ca
    # the API works over TLS (verification against the CA on), plain TLS trust fails
    assert server.get("/api/photos").status_code == 200
    try:
        requests.get(server.url + "/api/health", timeout=10)
        raise AssertionError("an unknown CA must not be trusted")
    except requests.exceptions.SSLError:
        pass
    ws = websocket.create_connection(f"{server.ws_url}?token={server.token}", timeout=10,
                                     sslopt={"ca_certs": str(ca), "cert_reqs": ssl.CERT_REQUIRED})
    try:
        assert json.loads(ws.recv())["type"] == "hello"
    finally:
        ws.close()
    # uploads over TLS take the ordinary (non-splice) body path
    import hashlib
    import os

    data = b"\xff\xd8" + os.urandom(300_000)
    up = server.post("/api/uploads", json={"filename": "x.jpg", "size": len(data),
                                           "sha256": hashlib.sha256(data).hexdigest()}).json()
    r = server.request("PATCH", f"/api/uploads/{up['id']}?offset=0", data=data[:200_000])
    assert r.status_code == 200 and r.json()["offset"] == 200_000
    r = server.request("PATCH", f"/api/uploads/{up['id']}?offset=200000", data=data[200_000:])
    # the checksum passed (bytes intact over TLS); random bytes are then refused as an image
    assert r.status_code in (415, 422) and r.json()["error"] != "checksum_mismatch"
    assert r.json()["upload"]["status"] == "failed"
    # the pairing cookie is Secure over HTTPS
    code = server.pair_code()
    r = requests.post(server.url + "/api/pair", json={"code": code}, verify=str(ca), timeout=10)
    assert "Secure" in r.headers["Set-Cookie"]
    assert requests.get(server.url + "/api/health", verify=str(ca), timeout=10).json()["https"] is True


def test_discover_finds_the_server_on_loopback(live_server_factory):
    server = live_server_factory(zeroconf=True)
    out = server.cli("discover", "--interface", "127.0.0.1", "--timeout", "3").stdout
    sid = server.get("/api/health").json()["server_id"]
    assert f"http://127.0.0.1:{server.port}" in out and sid in out
