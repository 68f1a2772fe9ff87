"""Decode bombs just under the per-file limits, several at once: the process budgets its decode memory
(photos/decode_budget.py), so parallel uploads queue instead of adding up, and one that waits too long
is answered 503 decode_busy with its bytes kept."""

from __future__ import annotations

import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from fixtures.hostile import peak_rss_kb, pixel_bomb_png, png_variant, worker_pid

from jaicat.errors import DecodeBusy
from jaicat.photos.decode_budget import DecodeBudget, wait_at_most


def test_3_decodes_beyond_the_budget_wait_then_are_busy():
    budget = DecodeBudget(limit=100)
    inside = threading.Event()
    release = threading.Event()

    def holder():
        with budget.hold(80):
            inside.set()
            release.wait(5)

    t = threading.Thread(target=holder)
    t.start()
    assert inside.wait(5)
    with wait_at_most(0.2):
        started = time.monotonic()
        with pytest.raises(DecodeBusy) as e, budget.hold(40):
            pass
        assert 0.15 < time.monotonic() - started < 2
    assert e.value.status == 503 and "decode memory" in e.value.message
    with budget.hold(20):  # what still fits runs at once
        assert budget.used == 100
    release.set()
    t.join(5)
    with budget.hold(10**9):  # bigger than the whole budget: runs alone
        assert budget.used == 100
    assert budget.used == 0 and budget.peak == 100


def test_3_parallel_16_bit_pngs_just_under_the_limit_do_not_add_up(live_server):
    """Four 121 KB 16-bit 8000 x 8000 PNGs at once cost 3.2 GB before; now they decode in turn."""
    pid = worker_pid(live_server)
    before = peak_rss_kb(pid)
    base = pixel_bomb_png(8000, 8000)
    data = [png_variant(base, i) for i in range(4)]  # four photos (the same bytes would be one)

    def send(blob: bytes) -> tuple[int, str]:
        r = live_server.post("/api/uploads", json={"filename": "deep.png", "size": len(blob),
                                                   "sha256": hashlib.sha256(blob).hexdigest()})
        assert r.status_code == 201, r.text
        r = requests.patch(f"{live_server.url}/api/uploads/{r.json()['id']}?offset=0", data=blob,
                           headers=live_server.auth, timeout=60)
        return r.status_code, r.json().get("error") or r.json().get("status")

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(send, data))
    assert all(r in ((200, "done"), (503, "decode_busy")) for r in results), results
    assert (200, "done") in results
    grew_mb = (peak_rss_kb(pid) - before) / 1024
    assert grew_mb < 1000, f"{grew_mb:.0f} MB"  # the old server: ~3300

