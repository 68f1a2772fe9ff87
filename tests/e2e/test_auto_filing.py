"""Photos Jaicat is sure of file themselves, on the real server (JAICAT_AUTO_FILE=0.05).

Three bursts of photos (a lake day, a birthday, a garden afternoon), three of each filed by hand into
a folder of its own; the next photos of those bursts file themselves into their burst's folder, are
pushed to the phone as `photo.auto_filed`, are listed by `GET /api/photos?filed_by=auto`, and one call
undoes one. The household behind it has a history: the auto-filing rule starts from the outcomes of
300 earlier review decisions (first choices at 0.5 and above were right), as a catalogue that has been
in use keeps them; without such a history nothing files itself (about 30 decisions are needed).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time

import pytest

from fixtures.browser import upload_bytes as upload
from fixtures.phone_socket import PhoneSocket
from e2e.test_review_live import jpeg

pytestmark = [pytest.mark.timeout(300)]

BURSTS = {"Trips/Lake": dt.datetime(2024, 6, 1, 10, 0), "Family/Birthday": dt.datetime(2024, 6, 9, 15, 0),
          "Garden": dt.datetime(2024, 6, 20, 17, 30)}
HISTORY = {"n": [0] * 25 + [12] * 25, "wrong": [0] * 50, "recent": []}  # AutoFileRule.state of 300 decisions


def waiting(server, shots: list[tuple[str, dt.datetime]], seed: int) -> list[int]:
    """Upload photos and leave them as analysis would (the worker is off): waiting for review."""
    ids = [upload(server, jpeg(seed + k, when), f"IMG_{seed + k:04d}.jpg") for k, (_, when) in enumerate(shots)]
    with sqlite3.connect(server.settings.db_path, timeout=10) as db:
        db.executemany("UPDATE photo SET status = 'suggested', suggestions = '[]', analysed_at = ? WHERE id = ?",
                       [("2024-07-01 00:00:00", pid) for pid in ids])
    # a new folder: the waiting cards are re-suggested and pushed, as analysis would push each
    assert server.post("/api/folders", json={"path": f"Later/{seed}"}).status_code == 201
    return ids


def burst_shots(start: int, n: int) -> list[tuple[str, dt.datetime]]:
    """Photo `start`..`start+n-1` of each burst, two minutes apart."""
    return [(folder, when + dt.timedelta(minutes=2 * k)) for folder, when in BURSTS.items()
            for k in range(start, start + n)]


def household(live_server_factory, monkeypatch):
    """A server started with JAICAT_AUTO_FILE=0.05 on a catalogue that has the household's history."""
    monkeypatch.setenv("JAICAT_AUTO_FILE", "0.05")
    server = live_server_factory()
    server.stop()
    with sqlite3.connect(server.settings.db_path, timeout=10) as db:  # the household's earlier decisions
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('autofile.rule', ?)", (json.dumps(HISTORY),))
    server.start()
    assert server.get("/api/settings").json()["auto_file"] == 0.05
    return server


def file_by_hand(server) -> None:
    """Three photos of each burst, filed by hand: the first of each makes its folder."""
    by_hand = burst_shots(0, 3)
    ids = waiting(server, by_hand, 0)
    for k in (0, 1, 2):  # the first photo of each burst, then the second, the third
        for b in range(3):
            pid, (folder, _) = ids[b * 3 + k], by_hand[b * 3 + k]
            r = server.post(f"/api/review/{pid}/fix", json={"folder": folder, "create": True})
            assert r.status_code == 200, r.text
            assert r.json()["decision"]["filed_by"] == "user", f"{pid} was filed before the hand got to it"


def test_sure_photos_file_themselves_and_one_call_undoes_one(live_server_factory, monkeypatch):
    server = household(live_server_factory, monkeypatch)
    phone = PhoneSocket(server)
    file_by_hand(server)
    assert phone.of_type("photo.auto_filed") == []

    later = burst_shots(3, 3)
    t0 = time.monotonic()
    more = waiting(server, later, 100)
    expected = {pid: folder for pid, (folder, _) in zip(more, later, strict=True)}
    deadline = time.monotonic() + 30
    while len(phone.of_type("photo.auto_filed")) < len(more) and time.monotonic() < deadline:
        time.sleep(0.05)
    pushed = {m["photo_id"]: (t, m) for t, m in phone.of_type("photo.auto_filed")}
    lags = sorted(t - t0 for t, _ in pushed.values())
    print(f"\nauto-filed {len(pushed)}/{len(more)}; after upload: first {lags[0]:.1f} s, last {lags[-1]:.1f} s; "
          f"confidence {min(m['confidence'] for _, m in pushed.values()):.2f}-"
          f"{max(m['confidence'] for _, m in pushed.values()):.2f}" if pushed else "\nnothing auto-filed")
    assert {pid: m["folder"] for pid, (_, m) in pushed.items()} == expected
    assert lags[0] >= 5.0  # the first choice had to be stable for 5 s first
    for pid, folder in expected.items():
        p = server.get(f"/api/photos/{pid}").json()
        assert (p["folder"], p["filed_by"], p["status"]) == (folder, "auto", "filed")
        assert (server.settings.library / p["path"]).is_file()
    listed = server.get("/api/photos?filed_by=auto&limit=100").json()["items"]
    assert [p["id"] for p in listed] == sorted(expected, reverse=True)  # newest first
    assert server.get("/api/photos?filed_by=nobody").status_code == 400
    state = server.get("/api/settings").json()
    assert state["auto_filed"] == len(more) and state["unseen"] == len(more) and state["paused"] is False

    # one call undoes one: the photo is back in review, counted as a correction, never auto-filed again
    undone = more[0]
    r = server.post("/api/review/undo", json={"photo_id": undone})
    assert r.status_code == 200 and r.json()["decision"]["filed_by"] == "auto", r.text
    assert r.json()["photo"]["root"] == "inbox" and r.json()["photo"]["filed_by"] is None
    assert undone in [p["id"] for p in server.get("/api/review?limit=50").json()["items"]]
    assert undone not in [p["id"] for p in server.get("/api/photos?filed_by=auto").json()["items"]]
    # seeing the others in the strip keeps them (the suggester learns them now)
    r = server.post("/api/review/auto-filed/seen", json={"photo_ids": more})
    assert r.status_code == 200 and r.json() == {"kept": len(more) - 1, "unseen": 0}
    time.sleep(6)  # past the stable time: the undone photo stays with the user
    assert server.get(f"/api/photos/{undone}").json()["status"] == "suggested"
    assert len(phone.of_type("photo.auto_filed")) == len(more)
    phone.ws.close()
