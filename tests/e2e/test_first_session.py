"""A new user's first session on the real server and the real PWA: a file's modification time is not
a capture date (no burst, no dated folder, no month on the timeline), and "File all" is offered only
for a strong shared reason.

Photos copied from a computer without EXIF dates get their file's modification time as `taken_at`
with `date_source: "file"` (photos/ingest.py); the tests set that on uploaded photos the way an
import leaves them.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import sqlite3

import pytest
from PIL import Image

from fixtures.browser import pair_phone, upload_bytes as upload

pytestmark = [pytest.mark.timeout(300)]

COPIED = dt.datetime(2026, 12, 7, 10, 0)  # when the files were copied: their modification time


def jpeg(seed: int, taken: dt.datetime | None = None) -> bytes:
    """A small real JPEG with its own pixels, with a DateTimeOriginal when `taken`."""
    rnd = random.Random(seed)
    im = Image.new("RGB", (96, 64), tuple(rnd.randrange(256) for _ in range(3)))
    im.putdata([tuple(min(255, c + rnd.randrange(40)) for c in im.getpixel((0, 0))) for _ in range(96 * 64)])
    exif = Image.Exif()
    if taken is not None:
        exif[0x8769] = {0x9003: taken.strftime("%Y:%m:%d %H:%M:%S")}
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=80, exif=exif)
    return buf.getvalue()


def waiting(server, pids: list[int], file_dates: dict[int, dt.datetime] | None = None,
            people: dict[int, str] | None = None) -> None:
    """Leave photos as analysis does (suggested, no stored suggestions); `file_dates`: the photos whose
    only date is their file's; `people`: a named person's face on a photo."""
    with sqlite3.connect(server.settings.db_path, timeout=10) as db:
        for pid, when in (file_dates or {}).items():
            db.execute("UPDATE photo SET taken_at = ?, date_source = 'file' WHERE id = ?",
                       (when.strftime("%Y-%m-%d %H:%M:%S"), pid))
        for pid, name in (people or {}).items():
            db.execute("INSERT OR IGNORE INTO person (name, created_at) VALUES (?, ?)", (name, "2024-07-01 00:00:00"))
            (person,) = db.execute("SELECT id FROM person WHERE name = ?", (name,)).fetchone()
            db.execute("INSERT INTO face (photo_id, x, y, w, h, encoding, person_id, distance, confirmed) "
                       "VALUES (?, 0.3, 0.2, 0.3, 0.4, ?, ?, 0.3, 0)", (pid, bytes(1024), person))
        db.executemany("UPDATE photo SET status = 'suggested', suggestions = '[]', analysed_at = ? WHERE id = ?",
                       [("2026-12-07 11:00:00", pid) for pid in pids])


def suggestions(server, pid: int) -> list[dict]:
    """The photo's suggestions as the review queue computes them now."""
    items = server.get("/api/review", params={"limit": 100}).json()["items"]
    return next(p for p in items if p["id"] == pid)["suggestions"] or []


def test_file_times_are_no_burst(live_server_factory):
    """Four unrelated photos copied together (file times 2 minutes apart): no "File all"."""
    server = live_server_factory()
    pids = [upload(server, jpeg(k), f"copied_{k}.jpg") for k in range(5)]
    waiting(server, pids, {pid: COPIED + dt.timedelta(minutes=2 * k) for k, pid in enumerate(pids)})
    r = server.post(f"/api/review/{pids[0]}/fix", json={"folder": "Birds", "create": True})
    assert r.status_code == 200, r.text
    assert suggestions(server, pids[1])[0]["folder"] == "Birds"  # the only folder there is
    g = server.get(f"/api/review/{pids[1]}/group").json()
    assert g["count"] == 1, [p["id"] for p in g["items"]]
    # the photo's own date is still reported, with where it came from
    p = server.get(f"/api/photos/{pids[1]}").json()
    assert p["date_source"] == "file" and p["taken_at"].startswith("2026-12-07")


def test_file_all_needs_a_reason_that_points_at_the_folder(live_server_factory):
    """A real burst (EXIF times within minutes) is filed all at once where its first photo went; the
    photos of a person are filed all at once where that person's photos went, never into the only
    folder there is."""
    server = live_server_factory()
    t0 = dt.datetime(2024, 7, 3, 15, 0)
    burst = [upload(server, jpeg(10 + k, t0 + dt.timedelta(minutes=k)), f"IMG_{k}.jpg") for k in range(4)]
    amy = [upload(server, jpeg(20 + k, t0 + dt.timedelta(days=3 + k)), f"amy_{k}.jpg") for k in range(3)]
    waiting(server, burst + amy, people={pid: "Amy" for pid in amy})
    assert server.post(f"/api/review/{burst[0]}/fix", json={"folder": "Beach", "create": True}).status_code == 200
    g = server.get(f"/api/review/{burst[1]}/group").json()
    assert (g["folder"], sorted(p["id"] for p in g["items"])) == ("Beach", burst[1:]), g
    assert suggestions(server, amy[0])[0]["folder"] == "Beach"  # the only folder: a guess
    assert server.get(f"/api/review/{amy[0]}/group").json()["count"] == 1
    assert server.post(f"/api/review/{amy[0]}/fix", json={"folder": "Amy", "create": True}).status_code == 200
    g = server.get(f"/api/review/{amy[1]}/group").json()
    assert (g["folder"], sorted(p["id"] for p in g["items"])) == ("Amy", amy[1:]), g


def test_no_dated_folder_from_a_copy_year(live_server_factory):
    """Event folders named "Trips/<text> <year>": a photo dated only by its file gets no proposed
    "Trips/Marie 2026"; the same photo with a capture date does."""
    server = live_server_factory()
    old = [upload(server, jpeg(20 + k, dt.datetime(2023 + k, 5, 1, 12)), f"old_{k}.jpg") for k in range(2)]
    waiting(server, old)
    for pid, folder in zip(old, ("Trips/Utah 2023", "Trips/Paris 2024"), strict=True):
        assert server.post(f"/api/review/{pid}/fix", json={"folder": folder, "create": True}).status_code == 200
    undated = upload(server, jpeg(30), "portrait.jpg")
    dated = upload(server, jpeg(31, dt.datetime(2025, 9, 2, 12)), "portrait2.jpg")
    waiting(server, [undated, dated], {undated: COPIED}, {undated: "Marie Curie", dated: "Marie Curie"})
    shown = suggestions(server, dated)
    new = [s["folder"] for s in shown if s.get("new")]
    assert new and "2025" in new[0], shown  # the control: a real date proposes
    assert [s["score"] for s in shown] == sorted((s["score"] for s in shown), reverse=True), shown  # by score
    assert not [s for s in suggestions(server, undated) if s.get("new")], suggestions(server, undated)


def test_a_new_person_gets_a_proposed_folder_first(live_server_factory):
    """People filed in folders named after them: the first photo of a third person is offered a
    folder of their own, ranked by its score (first, on a young library), and accepting makes it."""
    server = live_server_factory()
    t0 = dt.datetime(2024, 7, 1, 9)
    who = {upload(server, jpeg(130 + k, t0 + dt.timedelta(hours=11 * k)), f"p{k}.jpg"): name
           for k, name in enumerate(["Amy", "Ben", "Cleo", "Cleo"])}
    waiting(server, list(who), people=who)
    ids = list(who)
    for pid in ids[:2]:
        assert server.post(f"/api/review/{pid}/fix", json={"folder": f"Family/{who[pid]}", "create": True}).status_code == 200
    shown = suggestions(server, ids[2])
    assert shown[0]["folder"] == "Family/Cleo" and shown[0]["new"] is True, shown
    assert server.post(f"/api/review/{ids[2]}/accept").status_code == 200
    assert suggestions(server, ids[3])[0]["folder"] == "Family/Cleo"


def test_the_timeline_keeps_undated_photos_apart(live_server_factory):
    server = live_server_factory()
    dated = [upload(server, jpeg(40 + k, dt.datetime(2024, 7, 1 + k, 12)), f"d{k}.jpg") for k in range(3)]
    copied = [upload(server, jpeg(50 + k), f"c{k}.jpg") for k in range(3)]
    sent = upload(server, jpeg(60), "no_date.jpg")  # no date at all: the upload time is not a date either
    waiting(server, [], {pid: COPIED + dt.timedelta(minutes=k) for k, pid in enumerate(copied)})
    t = server.get("/api/timeline").json()
    assert t["months"] == [{"month": "2024-07", "count": 3}] and t["undated"] == 4, t
    seen, cursor = [], None
    while True:  # pages of 2: the cursor crosses from the dated photos into the undated ones
        r = server.get("/api/timeline/photos", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += [p["id"] for p in r["items"]]
        cursor = r["next_cursor"]
        if not cursor:
            break
    assert seen == dated[::-1] + sorted(copied + [sent], reverse=True)
    undated = server.get("/api/timeline/photos", params={"until": "undated"}).json()["items"]
    assert [p["id"] for p in undated] == sorted(copied + [sent], reverse=True)
    # a photo given its real date (an edit of taken_at) moves into its month, counts kept in step
    with sqlite3.connect(server.settings.db_path, timeout=10) as db:
        db.execute("UPDATE photo SET date_source = 'exif:DateTimeOriginal', taken_at = '2024-07-09 08:00:00' "
                   "WHERE id = ?", (copied[0],))
    t = server.get("/api/timeline").json()
    assert t["months"] == [{"month": "2024-07", "count": 4}] and t["undated"] == 3, t
    assert server.get("/api/timeline/photos", params={"until": "2023"}).status_code == 400


@pytest.mark.browser
def test_the_timeline_shows_an_undated_section(live_server_factory, phone):
    server = live_server_factory()
    dated = upload(server, jpeg(70, dt.datetime(2024, 7, 1, 12)), "dated.jpg")
    copied = [upload(server, jpeg(71 + k), f"copied{k}.jpg") for k in range(2)]
    waiting(server, [], {pid: COPIED for pid in copied})
    page = phone
    pair_phone(page, server)
    page.goto(f"{server.url}/#timeline")
    page.locator('.date-head[data-month="undated"]').wait_for()
    heads = page.locator(".date-head").all_inner_texts()
    assert len(heads) == 2 and "2024" in heads[0] and heads[1].startswith("Undated"), heads
    assert "2026" not in " ".join(heads) and "December" not in " ".join(heads)
    under = page.locator('.date-head[data-month="undated"] + .photo-grid .thumb')
    assert sorted(int(x) for x in under.evaluate_all("els => els.map((e) => e.dataset.photoId)")) == sorted(copied)
    assert page.locator(f'.thumb[data-photo-id="{dated}"]').count() == 1
    assert page.errors == []


@pytest.mark.browser
def test_a_hidden_button_draws_nothing(live_server_factory, phone):
    """The "File all" button is hidden when there is no group: it takes no room under the card."""
    server = live_server_factory()
    pids = [upload(server, jpeg(80 + k), f"copied{k}.jpg") for k in range(2)]
    waiting(server, pids, {pid: COPIED for pid in pids})
    page = phone
    pair_phone(page, server)
    page.goto(f"{server.url}/#review")
    page.locator('.review-card[data-depth="0"]').wait_for()
    page.wait_for_timeout(300)  # the group request has answered
    btn = page.locator("#group-btn")
    assert btn.evaluate("b => b.hidden") is True
    box = btn.evaluate("b => { const r = b.getBoundingClientRect(); return [r.width, r.height, getComputedStyle(b).display]; }")
    assert box == [0, 0, "none"], box
    # every element hidden by the attribute draws nothing, whatever class styles it
    drawn = page.evaluate("""[...document.querySelectorAll('[hidden]')]
        .filter((e) => e.getBoundingClientRect().height > 0).map((e) => e.id || e.className)""")
    assert drawn == [], drawn
    assert page.errors == []


@pytest.mark.browser
def test_a_weak_guess_says_it_is_unsure(live_server_factory, phone):
    """Below the sure score the card asks the user to choose, with the guesses as plain choices (no
    percentage, no "Suggested folder"); a swipe right opens the folder picker instead of filing."""
    server = live_server_factory()
    pids = [upload(server, jpeg(140 + k), f"copied{k}.jpg") for k in range(3)]
    waiting(server, pids, {pid: COPIED + dt.timedelta(days=k) for k, pid in enumerate(pids)})
    assert server.post(f"/api/review/{pids[0]}/fix", json={"folder": "Birds", "create": True}).status_code == 200
    queue = server.get("/api/review").json()
    guess = next(p for p in queue["items"] if p["id"] == pids[1])["suggestions"][0]
    assert guess["folder"] == "Birds" and guess["score"] < queue["sure"], (guess, queue["sure"])
    page = phone
    pair_phone(page, server)
    page.goto(f"{server.url}/#review")
    card = page.locator(f'.review-card[data-depth="0"][data-photo-id="{pids[1]}"]')
    card.locator(".suggestion.unsure .label", has_text="choose a folder").wait_for()
    assert card.locator(".suggested-folder").count() == 0 and "%" not in card.locator(".card-body").inner_text()
    assert card.locator('.choice[data-folder="Birds"]').count() == 1
    page.locator("#accept-btn").click()  # not a filing: the picker
    page.locator("#folder-search").wait_for()
    page.keyboard.press("Escape")
    card.locator('.choice[data-folder="Birds"]').click()  # a plain choice files there
    page.locator(".toast", has_text="Filed in Birds").wait_for()
    assert server.get(f"/api/photos/{pids[1]}").json()["folder"] == "Birds"
    assert page.errors == []
