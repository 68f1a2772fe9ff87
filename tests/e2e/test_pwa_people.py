"""The people screen on a phone, against the real server: tiles count photos, "Confirm all suggested"
confirms a person's faces in one tap, "Not a face" removes a box for good, "Hide this stranger" hides
an unknown person, "Cover" picks the face on the tile."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from fixtures.browser import pair_phone

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

MEDIA = Path(__file__).resolve().parents[1] / "media"


def _upload(server, path: Path) -> int:
    data = path.read_bytes()
    up = server.post("/api/uploads", json={"filename": path.name, "size": len(data),
                                          "sha256": hashlib.sha256(data).hexdigest()}).json()
    r = server.request("PATCH", f"/api/uploads/{up['id']}", params={"offset": 0}, data=data,
                       headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    return r.json()["photo_id"]


def test_people_actions_on_the_phone(live_server_factory, phone):
    server = live_server_factory()
    ids = [_upload(server, MEDIA / "exif" / f"orientation_{i}.jpg") for i in (1, 2, 3)]
    with sqlite3.connect(server.settings.db_path, timeout=10) as db:
        db.execute("INSERT INTO person (name, created_at) VALUES ('Amy H', datetime('now'))")
        # Amy: suggested (unconfirmed) on two photos, twice on the first; one stranger's cluster
        for pid, x in ((ids[0], 0.1), (ids[0], 0.5), (ids[1], 0.2)):
            db.execute("INSERT INTO face (photo_id, x, y, w, h, encoding, confirmed, person_id, distance) "
                       "VALUES (?, ?, 0.1, 0.2, 0.2, zeroblob(512), 0, 1, 0.3)", (pid, x))
        db.execute("INSERT INTO face (photo_id, x, y, w, h, encoding, confirmed, cluster) "
                   "VALUES (?, 0.3, 0.3, 0.2, 0.2, zeroblob(512), 0, 7)", (ids[2],))
    page = phone
    pair_phone(page, server)
    page.goto(f"{server.url}/#people")
    tile = page.locator(".person", has_text="Amy H")
    tile.wait_for()
    assert "2 photos" in tile.inner_text()  # photos, not faces

    tile.click()
    confirm = page.locator("button.confirm-all")
    confirm.wait_for()
    assert confirm.inner_text() == "Confirm all 3 suggested"
    page.locator(".face-tile button.not-a-face").first.click()
    page.wait_for_function("document.querySelectorAll('.face-tile').length === 2")
    page.locator(".face-tile button.make-cover").last.click()
    page.locator(".person", has_text="Amy H").wait_for()
    amy = server.get("/api/people").json()["items"][0]
    assert amy["photo_count"] == 1 and amy["face_count"] == 2  # the "not a face" box left photo 1's other face
    cover = amy["cover_face_id"]

    page.locator(".person", has_text="Amy H").click()
    page.locator("button.confirm-all").wait_for()
    page.locator("button.confirm-all").click()
    page.get_by_text("Confirmed 2 faces of Amy H").wait_for()
    faces = server.get(f"/api/people/{amy['id']}").json()["faces"]
    assert all(f["confirmed"] for f in faces) and len(faces) == 2
    assert server.get("/api/people").json()["items"][0]["cover_face_id"] == cover

    page.goto(f"{server.url}/#people")
    card = page.locator(".cluster", has_text="1 face")
    card.wait_for()
    card.locator("button.hide-stranger").click()
    page.locator("#unknown-list", has_text="No unknown faces waiting").wait_for()
    assert server.get("/api/people/unknown").json()["items"] == []
    assert [p["name"] for p in server.get("/api/people").json()["items"]] == ["Amy H"]
    assert page.errors == []


def test_an_unknown_group_that_is_no_face(live_server_factory, phone):
    """The unknown-face card fits a 390 px phone (placeholder whole, each button on one line) and has
    "Not a face": the group leaves for good."""
    server = live_server_factory()
    ids = [_upload(server, MEDIA / "exif" / f"orientation_{i}.jpg") for i in (1, 2)]
    with sqlite3.connect(server.settings.db_path, timeout=10) as db:
        for pid in ids:  # blur or fur, clustered together
            db.execute("INSERT INTO face (photo_id, x, y, w, h, encoding, confirmed, cluster) "
                       "VALUES (?, 0.3, 0.3, 0.2, 0.2, zeroblob(512), 0, 9)", (pid,))
    page = phone
    pair_phone(page, server)
    page.goto(f"{server.url}/#people")
    card = page.locator(".cluster", has_text="2 faces")
    card.wait_for()
    box = card.locator("input")
    fits = box.evaluate("""(i) => { const c = document.createElement('canvas').getContext('2d');
        const s = getComputedStyle(i); c.font = `${s.fontSize} ${s.fontFamily}`;
        const pad = parseFloat(s.paddingLeft) + parseFloat(s.paddingRight);
        return c.measureText(i.placeholder).width + pad <= i.clientWidth; }""")
    assert fits, box.get_attribute("placeholder")
    for b in card.locator("button").all():
        assert b.evaluate("(e) => e.getBoundingClientRect().height <= 48"), b.inner_text()  # one line
    card.locator("button.not-faces").click()
    page.locator("#unknown-list", has_text="No unknown faces waiting").wait_for()
    assert server.get("/api/people/unknown").json()["items"] == []
    with sqlite3.connect(server.settings.db_path, timeout=10) as db:
        assert db.execute("SELECT COUNT(*) FROM face WHERE not_face = 1").fetchone()[0] == 2
    assert page.errors == []
