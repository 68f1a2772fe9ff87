"""The review loop is live, on the real server: waiting cards are re-suggested after every decision
and pushed over the websocket, in the browser too, without a new upload or a reload.

A new user's first batch: 30 photos of 5 people (6 each, taken interleaved over two weeks), no folders
yet. After the first photo of each person is filed into a folder named after them, the other 25
cards show that folder first.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import random
import sqlite3
import time

import pytest
from PIL import Image

from fixtures.browser import pair_phone, upload_bytes as upload
from fixtures.phone_socket import PhoneSocket

pytestmark = [pytest.mark.timeout(300)]

PEOPLE = ["Amy", "Ben", "Cleo", "Dan", "Eve"]


def jpeg(seed: int, taken: dt.datetime) -> bytes:
    """A small real JPEG with its own pixels and a DateTimeOriginal."""
    rnd = random.Random(seed)
    im = Image.new("RGB", (96, 64), tuple(rnd.randrange(256) for _ in range(3)))
    im.putdata([tuple(min(255, c + rnd.randrange(40)) for c in im.getpixel((0, 0))) for _ in range(96 * 64)])
    exif = Image.Exif()
    exif[0x8769] = {0x9003: taken.strftime("%Y:%m:%d %H:%M:%S")}
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=80, exif=exif)
    return buf.getvalue()


def first_batch(server) -> dict[int, str]:
    """Upload 30 photos, photo k of person k % 5, and store them as analysis leaves them on a
    machine that knows these five faces (the worker is off: faces written as dlib would).
    Returns {photo id: person}."""
    start = dt.datetime(2024, 7, 1, 9, 0)
    who = {}
    for k in range(30):
        pid = upload(server, jpeg(k, start + dt.timedelta(hours=11 * k)), f"IMG_{k:04d}.jpg")
        who[pid] = PEOPLE[k % 5]
    with sqlite3.connect(server.settings.db_path, timeout=10) as db:
        for name in PEOPLE:
            db.execute("INSERT INTO person (name, created_at) VALUES (?, ?)", (name, "2024-07-01 00:00:00"))
        ids = dict(db.execute("SELECT name, id FROM person"))
        for pid, name in who.items():
            db.execute("INSERT INTO face (photo_id, x, y, w, h, encoding, person_id, distance, confirmed) "
                       "VALUES (?, 0.3, 0.2, 0.3, 0.4, ?, ?, 0.3, 0)", (pid, bytes(1024), ids[name]))
            db.execute("UPDATE photo SET status = 'suggested', suggestions = '[]', analysed_at = ? WHERE id = ?",
                       ("2024-07-20 00:00:00", pid))
    return who


def pushed_folders(ws: PhoneSocket, pid: int) -> list[dict]:
    """The folders of the latest `suggestion.ready` pushed for photo `pid` ([] before any)."""
    pushed = ws.of(lambda m: m.get("type") == "suggestion.ready" and m.get("photo_id") == pid)
    return pushed[-1]["folders"] if pushed else []


def top_pushed(ws: PhoneSocket, pid: int) -> str | None:
    """The first of them."""
    folders = pushed_folders(ws, pid)
    return folders[0]["folder"] if folders else None


def test_waiting_cards_are_resuggested_over_the_websocket(live_server_factory):
    server = live_server_factory()
    who = first_batch(server)
    ids = list(who)
    queue = server.get("/api/review?limit=50").json()
    assert queue["count"] == 30 and all(p["suggestions"] == [] for p in queue["items"])  # no folders yet

    ws = PhoneSocket(server)
    lags = []
    for pid in ids[:5]:  # the first photo of each person, into a folder named after them
        t0 = time.monotonic()
        r = server.post(f"/api/review/{pid}/fix", json={"folder": who[pid], "create": True})
        assert r.status_code == 200, r.text
        # the next photo of that person is re-suggested and pushed without any request of ours
        nxt = next(p for p in ids[5:] if who[p] == who[pid])
        deadline = time.monotonic() + 5
        while top_pushed(ws, nxt) != who[pid] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert top_pushed(ws, nxt) == who[pid], (who[pid], pushed_folders(ws, nxt))
        lags.append(time.monotonic() - t0)
    time.sleep(0.5)  # the refresh after the last filing
    pushed = sum(top_pushed(ws, p) == who[p] for p in ids[5:])
    served = {p["id"]: p["suggestions"] for p in server.get("/api/review?limit=50").json()["items"]}
    fetched = sum(bool(served[p]) and served[p][0]["folder"] == who[p] for p in ids[5:])
    # no image model ran: a reason says what matched (a person's name), never what is "in the photo"
    reasons = [s["reason"] for p in ids[5:] for s in served[p]]
    assert not any("in the photo" in r for r in reasons), reasons
    assert any(f"matches {who[p]}'s name" in s["reason"] for p in ids[5:] for s in served[p]), reasons
    print(f"\nfirst batch: pushed top-1 {pushed}/25, GET /api/review top-1 {fetched}/25, "
          f"push lag after a filing max {max(lags) * 1000:.0f} ms")
    assert pushed >= 24 and fetched >= 24
    # (the push lag is printed, not enforced: on a quiet machine it is about 0.1 s)

    # a folder rename is followed at once: the waiting cards now show the new name
    assert server.post("/api/folders/rename", json={"from": "Amy", "to": "Family/Amy"}).status_code == 200
    amy = next(p for p in ids[5:] if who[p] == "Amy")
    deadline = time.monotonic() + 5
    while top_pushed(ws, amy) != "Family/Amy" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert top_pushed(ws, amy) == "Family/Amy"

    # "file all 5 here": Ben's waiting photos go where the first went, in one request
    ben = [p for p in ids[5:] if who[p] == "Ben"]
    g = server.get(f"/api/review/{ben[0]}/group").json()
    assert g["folder"] == "Ben" and sorted(p["id"] for p in g["items"]) == sorted(ben)
    r = server.post("/api/review/accept-all", json={"photo_ids": [p["id"] for p in g["items"]], "folder": "Ben"})
    assert r.status_code == 200 and r.json()["count"] == 5
    assert {server.get(f"/api/photos/{p}").json()["folder"] for p in ben} == {"Ben"}
    assert server.post("/api/review/accept-all", json={"photo_ids": "x", "folder": "Ben"}).status_code == 400
    ws.ws.close()


@pytest.mark.browser
def test_first_batch_in_the_browser(live_server_factory, phone):
    server = live_server_factory()
    who = first_batch(server)
    ids = list(who)
    page = phone
    pair_phone(page, server)
    page.goto(f"{server.url}/#review")
    top = page.locator('.review-card[data-depth="0"]')
    top.locator(".suggestion.none").wait_for()  # no folders yet: nothing to suggest

    for pid in ids[:5]:  # choose -> type the person's name -> create
        page.locator(f'.review-card[data-depth="0"][data-photo-id="{pid}"]').wait_for()
        page.locator("#choose-btn").click()
        page.locator("#folder-search").fill(who[pid])
        page.locator('.folder-option[data-create="1"]').click()
        page.locator(".toast", has_text=f"Filed in {who[pid]}").wait_for()

    # the top card offers to file all of that person's waiting photos at once
    page.locator("#group-btn", has_text=f"File all 5 in {who[ids[5]]}").wait_for()
    hits = 0
    for pid in ids[5:]:
        card = page.locator(f'.review-card[data-depth="0"][data-photo-id="{pid}"]')
        card.wait_for()
        # the card, loaded before any folder existed, shows the person's folder first: pushed, not
        # reloaded (as the suggestion, or, while the score is low, as the first of the choices)
        first = card.locator(f'.suggested-folder:text-is("{who[pid]}"), '
                             f'.suggestion.unsure .choice:first-child[data-folder="{who[pid]}"]')
        try:
            first.first.wait_for(timeout=3000)
            # one click that files there either way: the score may cross the sure line while a
            # refresh pushed after the last filing re-renders the card
            page.evaluate("""(folder) => {
                const c = document.querySelector('.review-card[data-depth="0"]');
                const chip = c.querySelector(`.suggestion.unsure .choice[data-folder="${folder}"]`);
                (chip || document.getElementById('accept-btn')).click(); }""", who[pid])
            hits += 1
        except Exception:  # noqa: BLE001 - a miss is counted, then filed where it belongs
            page.locator("#choose-btn").click()
            page.locator("#folder-search").fill(who[pid])
            page.locator(f'.folder-option[data-folder="{who[pid]}"]').first.click()
        page.locator(f'.review-card[data-depth="0"][data-photo-id="{pid}"]').wait_for(state="detached")
    print(f"\nbrowser first batch: the top card showed the person's folder {hits}/25")
    assert hits >= 24
    assert page.errors == []
    filed = server.get("/api/decisions?limit=50").json()["items"]
    assert len([d for d in filed if d["action"] == "accept"]) == hits


def test_a_command_beside_the_server_never_reverts_a_rename(live_server_factory):
    server = live_server_factory()
    who = first_batch(server)
    ids = list(who)
    for pid in ids[:2]:
        assert server.post(f"/api/review/{pid}/fix", json={"folder": who[pid], "create": True}).status_code == 200
    server.stop()
    server.start()  # the suggester's snapshot now knows "Amy"
    assert server.post(f"/api/review/{ids[2]}/fix", json={"folder": who[ids[2]], "create": True}).status_code == 200
    assert server.post("/api/folders/rename", json={"from": "Amy", "to": "Family/Amy"}).status_code == 200

    amy = [p for p in ids[5:] if who[p] == "Amy"]
    shown = server.cli("suggest", "show", str(amy[0])).stdout  # commands beside the running server
    assert "Family/Amy" in shown
    server.cli("file", str(ids[3]), who[ids[3]])  # a filing by a command: it learns, and exits

    def tops():
        items = server.get("/api/review?limit=50").json()["items"]
        return {p["id"]: [s["folder"] for s in p["suggestions"]] for p in items}

    now = tops()
    assert now[amy[0]][0] == "Family/Amy"
    assert not any("Amy" in folders for folders in now.values())  # the old name is never offered
    r = server.post(f"/api/review/{amy[0]}/accept", json={})
    assert r.status_code == 200 and r.json()["photo"]["folder"] == "Family/Amy"
    assert not (server.settings.library / "Amy").exists()  # accepting never re-created it

    server.stop()
    server.start()
    assert tops()[amy[1]][0] == "Family/Amy"


@pytest.mark.browser
def test_skipped_photos_stay_listed_and_undo_survives_a_reload(live_server_factory, phone):
    server = live_server_factory()
    who = first_batch(server)
    ids = list(who)
    page = phone
    pair_phone(page, server)
    page.goto(f"{server.url}/#review")
    first = page.locator(f'.review-card[data-depth="0"][data-photo-id="{ids[0]}"]')
    first.wait_for()
    page.locator("#skip-btn").click()
    first.wait_for(state="detached")
    page.locator("#choose-btn").click()  # the second card into a new folder
    page.locator("#folder-search").fill("Trips")
    page.locator('.folder-option[data-create="1"]').click()
    page.locator(f'.review-card[data-depth="0"][data-photo-id="{ids[2]}"]').wait_for()

    # the skipped photo is listed under Skipped, and can be filed from there
    page.locator("#skipped-btn").click()
    page.locator(f'.review-card[data-depth="0"][data-photo-id="{ids[0]}"]').wait_for()
    assert "1 skipped" in page.locator("#review-count").inner_text()
    page.locator("#skipped-btn").click()
    page.locator(f'.review-card[data-depth="0"][data-photo-id="{ids[2]}"]').wait_for()

    # after a reload, Undo still reverts the last decisions, newest first, from the decision log
    page.reload()
    page.locator(f'.review-card[data-depth="0"][data-photo-id="{ids[2]}"]').wait_for()
    page.wait_for_function("!document.querySelector('#undo-btn').disabled")
    page.locator("#undo-btn").click()
    page.locator(f'.review-card[data-depth="0"][data-photo-id="{ids[1]}"]').wait_for()
    assert server.get(f"/api/photos/{ids[1]}").json()["root"] == "inbox"
    page.locator("#undo-btn").click()  # and the skip before it
    page.locator(f'.review-card[data-depth="0"][data-photo-id="{ids[0]}"]').wait_for()
    assert server.get(f"/api/photos/{ids[0]}").json()["status"] in ("suggested", "inbox")
    assert server.get("/api/review?status=skipped").json()["count"] == 0
    assert page.errors == []


def test_a_person_renamed_or_merged_keeps_their_folder(live_server_factory):
    """The suggester learns people by id: after a rename or a merge (in the app) the person's waiting
    and new photos still go to the folder their earlier photos went to, before and after a restart.
    Folders are not named after the people, so only what was learned about the person can say it."""
    server = live_server_factory()
    who = first_batch(server)
    ids = list(who)
    folders = {"Amy": "Garden", "Ben": "Beach", "Cleo": "Park", "Dan": "Office", "Eve": "School"}
    for pid in ids[:10]:  # two photos of each person filed
        r = server.post(f"/api/review/{pid}/fix", json={"folder": folders[who[pid]], "create": True})
        assert r.status_code == 200, r.text
    people = {p["name"]: p["id"] for p in server.get("/api/people").json()["items"]}
    with sqlite3.connect(server.settings.db_path, timeout=10) as db:  # someone recognised as new
        db.execute("INSERT INTO person (name, created_at, hidden) VALUES ('Benjamin', '2024-07-20 00:00:00', 0)")
        benjamin = db.execute("SELECT id FROM person WHERE name = 'Benjamin'").fetchone()[0]

    ws = PhoneSocket(server)
    r = server.request("PATCH", f"/api/people/{people['Amy']}", json={"name": "Amelia"})
    assert r.status_code == 200 and r.json()["name"] == "Amelia"
    amy = [p for p in ids[10:] if who[p] == "Amy"]
    deadline = time.monotonic() + 5  # the waiting cards are pushed again, their reasons naming Amelia
    while "Amelia" not in json.dumps(pushed_folders(ws, amy[0])) and time.monotonic() < deadline:
        time.sleep(0.01)
    folders = pushed_folders(ws, amy[0])
    assert top_pushed(ws, amy[0]) == "Garden" and "Amelia" in folders[0]["reason"], folders
    r = server.post(f"/api/people/{people['Ben']}/merge", json={"into": benjamin})
    assert r.status_code == 200 and r.json()["id"] == benjamin
    ws.ws.close()

    fresh = {}  # new photos of the renamed and the merged person
    for k, (person, name) in enumerate(((people["Amy"], "Amelia"), (benjamin, "Benjamin"))):
        pid = upload(server, jpeg(100 + k, dt.datetime(2024, 7, 30, 10 + k)), f"NEW_{k}.jpg")
        with sqlite3.connect(server.settings.db_path, timeout=10) as db:
            db.execute("INSERT INTO face (photo_id, x, y, w, h, encoding, person_id, distance, confirmed) "
                       "VALUES (?, 0.3, 0.2, 0.3, 0.4, ?, ?, 0.3, 0)", (pid, bytes(1024), person))
            db.execute("UPDATE photo SET status = 'suggested', suggestions = '[]', analysed_at = ? WHERE id = ?",
                       ("2024-07-31 00:00:00", pid))
        fresh[pid] = name
    expected = {**{p: "Garden" for p in amy}, **{p: "Beach" for p in ids[10:] if who[p] == "Ben"},
                **{p: {"Amelia": "Garden", "Benjamin": "Beach"}[n] for p, n in fresh.items()}}

    def tops():
        items = server.get("/api/review?limit=50").json()["items"]
        return {p["id"]: p["suggestions"][0]["folder"] if p["suggestions"] else None for p in items}

    now = tops()
    assert {p: now[p] for p in expected} == expected
    server.stop()
    server.start()  # from the snapshot the server saved at exit
    now = tops()
    assert {p: now[p] for p in expected} == expected


def new_event(server) -> dict[str, int]:
    """Event folders named `Events/YYYY-MM-DD <text>`, and three waiting photos as analysis leaves
    them (the worker is off): two of a beach day (2 and 3 July 2024) and a birthday cake."""
    for path in ("Events/2023-08-14 Camping", "Events/2024-05-10 Paris", "Family/Amy"):
        assert server.post("/api/folders", json={"path": path}).status_code == 201
    shots = {"beach1": (dt.datetime(2024, 7, 2, 16, 0), "beach"), "beach2": (dt.datetime(2024, 7, 3, 10, 30), "beach"),
             "cake": (dt.datetime(2024, 9, 21, 15, 0), "birthday cake")}
    ids = {name: upload(server, jpeg(50 + k, when), f"{name}.jpg") for k, (name, (when, _)) in enumerate(shots.items())}
    with sqlite3.connect(server.settings.db_path, timeout=10) as db:  # as analysis leaves them (worker off)
        for name, pid in ids.items():
            db.execute("INSERT OR IGNORE INTO tag (name) VALUES (?)", (shots[name][1],))
            (tag,) = db.execute("SELECT id FROM tag WHERE name = ?", (shots[name][1],)).fetchone()
            db.execute("INSERT INTO phototag (photo_id, tag_id, source, score, removed) VALUES (?, ?, 'clip', 0.8, 0)",
                       (pid, tag))
            db.execute("UPDATE photo SET status = 'suggested', suggestions = '[]', analysed_at = ? WHERE id = ?",
                       ("2024-09-30 00:00:00", pid))
    return ids


def test_a_new_event_is_proposed_a_folder_named_like_the_households(live_server_factory):
    """Photos of a new beach day are offered `Events/2024-07-02 Beach` as a marked new choice (GET
    /api/review, the websocket, `jaicat suggest show`), accepting it creates the folder, and the
    decision says the proposal was taken unchanged."""
    server = live_server_factory()
    ids = new_event(server)
    served = {p["id"]: p["suggestions"] for p in server.get("/api/review?limit=10").json()["items"]}
    for name in ("beach1", "beach2"):  # the second day belongs to the event that started the day before
        new = [s for s in served[ids[name]] if s.get("new")]
        assert [s["folder"] for s in new] == ["Events/2024-07-02 Beach"], served[ids[name]]
        assert new[0]["reason"] and 0 <= new[0]["score"] <= 1
    assert [s["folder"] for s in served[ids["cake"]] if s.get("new")] == ["Events/2024-09-21 Birthday"]
    assert "Events/2024-09-21 Birthday [new folder]" in server.cli("suggest", "show", str(ids["cake"])).stdout

    ws = PhoneSocket(server)
    r = server.post(f"/api/review/{ids['beach1']}/accept", json={"folder": "Events/2024-07-02 Beach"})
    assert r.status_code == 200, r.text
    assert r.json()["photo"]["folder"] == "Events/2024-07-02 Beach"
    assert r.json()["decision"]["proposal"] == "unchanged"
    assert (server.settings.library / "Events/2024-07-02 Beach").is_dir()
    # the other beach photo now goes to the folder that exists; the cake keeps its proposal (pushed)
    deadline = time.monotonic() + 5
    while top_pushed(ws, ids["beach2"]) != "Events/2024-07-02 Beach" and time.monotonic() < deadline:
        time.sleep(0.01)
    pushed = pushed_folders(ws, ids["beach2"])
    assert pushed[0]["folder"] == "Events/2024-07-02 Beach" and not any(s.get("new") for s in pushed)
    r = server.post(f"/api/review/{ids['cake']}/fix", json={"folder": "Events/2024-09-21 Ella turns 5", "create": True})
    assert r.status_code == 200 and r.json()["decision"]["proposal"] == "edited"
    log = server.get("/api/decisions?limit=5").json()["items"]
    assert [d["proposal"] for d in log] == ["edited", "unchanged"]
    # a proposal that was never shown is not a choice: accepting an unknown folder still refuses
    r = server.post(f"/api/review/{ids['beach2']}/accept", json={"folder": "Events/2024-07-03 Elsewhere"})
    assert r.status_code == 404


@pytest.mark.browser
def test_a_proposed_folder_is_offered_on_the_card(live_server_factory, phone):
    server = live_server_factory()
    ids = new_event(server)
    page = phone
    pair_phone(page, server)
    page.goto(f"{server.url}/#review")
    card = page.locator(f'.review-card[data-depth="0"][data-photo-id="{ids["beach1"]}"]')
    # ranked by its score: on this young library the proposal is the card's first suggestion
    card.locator(".suggestion .label", has_text="Suggested new folder").wait_for()
    assert card.locator(".suggested-folder").inner_text() == "Events/2024-07-02 Beach"
    page.locator("#accept-btn").click()
    page.locator(".toast", has_text="Filed in Events/2024-07-02 Beach").wait_for()
    card.wait_for(state="detached")
    assert server.get(f"/api/photos/{ids['beach1']}").json()["folder"] == "Events/2024-07-02 Beach"
    assert server.get("/api/decisions?limit=1").json()["items"][0]["proposal"] == "unchanged"
    assert page.errors == []
