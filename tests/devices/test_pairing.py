"""Pairing: a short code becomes a device token; tokens guard every protected route."""

from __future__ import annotations

import datetime as dt

import pytest

from jaicat.devices import pairing
from jaicat.db import Device
from jaicat.errors import RateLimited, Unauthorized


def test_code_pairs_once_and_token_is_stored_hashed(app):
    code, expires = pairing.create_code()
    assert len(code) == 6 and set(code) <= set(pairing.CODE_ALPHABET)
    c = app.test_client()
    r = c.post("/api/pair", json={"code": code.lower(), "name": "Amy's phone"})
    assert r.status_code == 201
    token = r.json["token"]
    assert "HttpOnly" in r.headers["Set-Cookie"] and "SameSite=Strict" in r.headers["Set-Cookie"]
    assert Device.get().token_hash != token and token not in Device.get().token_hash
    assert c.post("/api/pair", json={"code": code, "name": "again"}).status_code == 401  # single use
    fresh = app.test_client()
    assert fresh.get("/api/devices").status_code == 401
    r = fresh.get("/api/devices", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json["items"][0]["name"] == "Amy's phone"
    # the cookie set by /api/pair authenticates the PWA
    assert c.get("/api/devices").status_code == 200


def test_expired_code_is_refused():
    code, _ = pairing.create_code(now=dt.datetime(2000, 1, 1))
    with pytest.raises(Unauthorized):
        pairing.redeem_code(code, "late phone")


def test_wrong_codes_are_rate_limited(app):
    c = app.test_client()
    statuses = [c.post("/api/pair", json={"code": "AAAAAA"}).status_code for _ in range(6)]
    assert statuses[:5] == [401] * 5 and statuses[5] == 429
    assert c.post("/api/pair", json={"code": "AAAAAA"}).json["error"] == "rate_limited"


def test_limiter_blocks_only_the_guessing_address_and_backs_off(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(pairing.time, "monotonic", lambda: now[0])
    lim = pairing.AttemptLimiter(per_client=5, window=60.0)
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"):
        for _ in range(5):
            lim.check(address)
            lim.failed(address)
        with pytest.raises(RateLimited):
            lim.check(address)
    lim.check("10.0.0.99")  # another phone is never blocked by the guessers
    now[0] += 61
    lim.check("10.0.0.1")  # the first block lasts one window...
    for _ in range(5):
        lim.failed("10.0.0.1")
    now[0] += 61
    with pytest.raises(RateLimited):  # ...the second one twice as long
        lim.check("10.0.0.1")
    now[0] += 60
    lim.check("10.0.0.1")


def test_limiter_counts_an_ipv6_host_by_its_64():
    lim = pairing.AttemptLimiter(per_client=2)
    lim.failed("fd00:1:2:3::1")
    lim.failed("fd00:1:2:3::2")
    with pytest.raises(RateLimited):
        lim.check("fd00:1:2:3::99")
    lim.check("fd00:1:2:4::1")


def test_revoked_device_loses_access(client):
    other_code, _ = pairing.create_code()
    other, other_token = pairing.redeem_code(other_code, "old phone")
    assert client.delete(f"/api/devices/{other.id}").status_code == 204
    r = client.raw.get("/api/photos", headers={"Authorization": f"Bearer {other_token}"})
    assert r.status_code == 401
    assert client.get("/api/photos").status_code == 200
    assert client.post("/api/logout").status_code == 204
    assert client.get("/api/photos").status_code == 401


def test_paired_phone_can_make_a_code_for_another(client):
    r = client.post("/api/pair/code")
    assert r.status_code == 201 and r.json["url"].endswith("#pair=" + r.json["code"])
    r2 = client.raw.post("/api/pair", json={"code": r.json["code"], "name": "second"})
    assert r2.status_code == 201


def test_qr_text_renders_the_url():
    text = pairing.qr_text("http://127.0.0.1:8787/#pair=ABCDEF")
    assert len(text.splitlines()) > 10
