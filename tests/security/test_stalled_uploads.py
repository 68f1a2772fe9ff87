"""A paired device cannot hold the request threads with upload chunks it never sends: a chunk for an
unknown or foreign upload is answered before its body is read, and a device may have only a few chunk
bodies arriving at once."""

from __future__ import annotations

import time

import requests
from fixtures.hostile import close_all, raw_socket, read_status

PHONE_TIMEOUT = 10.0


def stalled_patch(server, upload_id: str, token: str | None = None):
    s = raw_socket(server)
    s.sendall(f"PATCH /api/uploads/{upload_id}?offset=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              f"Authorization: Bearer {token or server.token}\r\nContent-Type: application/octet-stream\r\n"
              f"Content-Length: 60000000\r\n\r\n".encode() + b"x" * 1000)
    return s


def phone_ok(server) -> float:
    t = time.monotonic()
    for _ in range(5):
        r = requests.get(f"{server.url}/api/photos?limit=5", headers=server.auth, timeout=PHONE_TIMEOUT)
        assert r.status_code == 200, r.text
    return time.monotonic() - t


def test_5_chunks_for_unknown_uploads_are_answered_before_their_body(live_server):
    socks = []
    try:
        socks = [stalled_patch(live_server, f"u_{i:032x}") for i in range(40)]  # more than the threads
        t = time.monotonic()
        statuses = [read_status(s, timeout=8) for s in socks]
        assert statuses == [404] * 40, statuses
        assert time.monotonic() - t < 8
        assert phone_ok(live_server) < PHONE_TIMEOUT
    finally:
        close_all(socks)


def test_5_a_device_has_only_a_few_chunk_bodies_arriving_at_once(live_server_factory):
    server = live_server_factory()
    ids = []
    for i in range(6):
        r = server.post("/api/uploads", json={"filename": f"s{i}.jpg", "size": 60_000_000})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    socks = []
    try:
        for up in ids:
            socks.append(stalled_patch(server, up))
            time.sleep(0.1)  # in order: the first ones are received (and stall), the rest are over the cap
        statuses = [read_status(s, timeout=3) for s in socks[4:]]
        assert statuses == [429, 429], statuses
        assert phone_ok(server) < PHONE_TIMEOUT
    finally:
        close_all(socks)
