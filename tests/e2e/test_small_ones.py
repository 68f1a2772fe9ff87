"""Small things of a first session, on the real server and the real PWA: a pairing code typed in lower
case, post ideas without a date, finished uploads leaving the queue by themselves."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest

from fixtures.browser import pair_phone, upload_bytes as upload
from test_first_session import COPIED, jpeg, waiting

pytestmark = [pytest.mark.timeout(300)]


@pytest.mark.browser
def test_a_code_typed_in_lower_case_keeps_every_character(live_server_factory, phone):
    server = live_server_factory()
    page = phone
    page.goto(f"{server.url}/#connect")
    box = page.locator("#pair-code")
    box.press_sequentially("abc12z")
    assert box.input_value() == "ABC12Z"  # upper-cased, nothing dropped
    page.locator("#pair-code-warn", has_text="never has 0, 1, I, L or O").wait_for()  # and why it cannot pair
    box.fill("")
    box.press_sequentially(server.phone_code().lower())
    assert page.locator("#pair-code-warn").is_hidden()
    page.locator("#pair-btn").click()
    page.wait_for_function("localStorage.getItem('jaicat.token') !== null")
    assert page.errors == []


def test_post_ideas_without_a_date_have_no_dangling_comma(live_server_factory):
    server = live_server_factory()
    sent = upload(server, jpeg(1), "utah.jpg")  # no date at all
    copied = upload(server, jpeg(2), "utah2.jpg")  # only the file's date: no month either
    waiting(server, [sent, copied], {copied: COPIED})
    for pid in (sent, copied):
        assert server.post(f"/api/review/{pid}/fix", json={"folder": "Utah", "create": True}).status_code == 200
        texts = [i["text"] for i in server.post("/api/ideas", json={"ids": [pid]}).json()["ideas"]]
        assert "Memories in Utah ✨" in texts, texts
        assert not any(", ✨" in t or " ," in t or t.endswith(",") or "2026" in t or "December" in t for t in texts), texts
    dated = upload(server, jpeg(3, dt.datetime(2024, 7, 2, 12)), "utah3.jpg")
    waiting(server, [dated])
    assert server.post(f"/api/review/{dated}/fix", json={"folder": "Utah", "create": True}).status_code == 200
    texts = [i["text"] for i in server.post("/api/ideas", json={"ids": [dated]}).json()["ideas"]]
    assert "Memories in Utah, July 2024 ✨" in texts, texts


@pytest.mark.browser
def test_finished_uploads_leave_the_queue_by_themselves(live_server_factory, phone, tmp_path):
    server = live_server_factory()
    files = []
    for k in range(2):
        f = tmp_path / f"send_{k}.jpg"
        f.write_bytes(jpeg(90 + k))
        files.append(str(f))
    page = phone
    pair_phone(page, server)
    page.goto(f"{server.url}/#upload")
    page.wait_for_selector("#file-input", state="attached")
    page.set_input_files("#file-input", files)
    page.wait_for_selector('.queue-card[data-complete="true"]', timeout=60_000)
    assert page.locator(".upload-item").count() == 2  # seen done first
    page.wait_for_function("document.querySelectorAll('.upload-item').length === 0", timeout=15_000)
    page.locator("#queue-summary", has_text="2 sent").wait_for()
    with sqlite3.connect(server.settings.db_path, timeout=10) as db:
        assert db.execute("SELECT COUNT(*) FROM photo").fetchone()[0] == 2
    assert page.errors == []


def test_search_without_image_model_finds_file_names(live_server_factory):
    """No CLIP weights: file names are found by their words, `_` parts included, and a query only
    image search could answer says why nothing came."""
    server = live_server_factory()
    for k, name in enumerate(["Landscape_3.jpg", "Landscape_4.jpg", "immich_IMG_2682.heic.jpg", "IMG_2683.jpg",
                              "portrait.jpg"]):
        upload(server, jpeg(100 + k), name)

    def found(q):
        r = server.get("/api/search", params={"q": q}).json()
        return {p["filename"] for p in r["items"]}, r["hints"]

    assert found("landscape")[0] == {"Landscape_3.jpg", "Landscape_4.jpg"}
    assert found("IMG_2682")[0] == {"immich_IMG_2682.heic.jpg"}
    assert found("landscape_3")[0] == {"Landscape_3.jpg"}
    items, hints = found("woman")
    assert items == set() and any("jaicat models pull" in h for h in hints), hints
    assert not any("models pull" in h for h in found("landscape")[1])  # found by name: no excuse needed


@pytest.mark.browser
def test_search_says_image_search_needs_its_model(live_server_factory, phone):
    server = live_server_factory()
    upload(server, jpeg(110), "portrait.jpg")
    page = phone
    pair_phone(page, server)
    page.goto(f"{server.url}/#search?q=woman")
    page.locator("#search-hints", has_text="jaicat models pull").wait_for()
    assert page.errors == []


@pytest.mark.browser
def test_settings_device_list_follows_the_server(live_server_factory, phone):
    """A phone paired (or renamed, or revoked) elsewhere shows in Settings at once, without leaving it."""
    server = live_server_factory()
    page = phone
    pair_phone(page, server)
    page.goto(f"{server.url}/#settings")
    page.locator("#device-list .device").first.wait_for()
    page.wait_for_timeout(500)  # the websocket is open
    before = page.locator("#device-list .device").count()
    server.pair("Kitchen tablet")
    page.locator("#device-list .device-name", has_text="Kitchen tablet").wait_for(timeout=5000)
    assert page.locator("#device-list .device").count() == before + 1
    tablet = next(d for d in server.get("/api/devices").json()["items"] if d["name"] == "Kitchen tablet")
    assert server.request("PATCH", f"/api/devices/{tablet['id']}", json={"name": "Hall tablet"}).status_code == 200
    page.locator("#device-list .device-name", has_text="Hall tablet").wait_for(timeout=5000)
    assert page.errors == []


@pytest.mark.browser
def test_the_map_says_when_its_tiles_cannot_load(live_server_factory, phone):
    server = live_server_factory()
    pid = upload(server, jpeg(120), "paris.jpg")
    with sqlite3.connect(server.settings.db_path, timeout=10) as db:
        db.execute("UPDATE photo SET gps_lat = 48.86, gps_lon = 2.35 WHERE id = ?", (pid,))
    page = phone
    page.route("https://tile.openstreetmap.org/**", lambda r: r.abort("internetdisconnected"))
    pair_phone(page, server)
    page.goto(f"{server.url}/#map")
    page.locator(f'.map-marker[data-photo-id="{pid}"]').wait_for()
    note = page.locator("#map-tiles-note")
    note.wait_for(timeout=10_000)
    assert "tile.openstreetmap.org" in note.inner_text() and "could not be loaded" in note.inner_text()
    # no broken-image boxes: a tile that failed draws nothing
    assert page.locator(".map-tile").evaluate_all(
        "ts => ts.every((t) => getComputedStyle(t).visibility === 'hidden')")
    # the host comes back: the next tiles load and the note goes
    page.unroute("https://tile.openstreetmap.org/**")
    png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                        "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082")
    page.route("https://tile.openstreetmap.org/**", lambda r: r.fulfill(status=200, content_type="image/png", body=png))
    page.locator("#zoom-in").click()
    note.wait_for(state="hidden", timeout=10_000)
    assert page.errors == []


@pytest.mark.browser
def test_the_install_button_leaves_the_screen_title_whole(live_server_factory, phone):
    server = live_server_factory()
    page = phone
    page.goto(f"{server.url}/#connect")
    page.locator("#pair-code").wait_for()
    page.evaluate("document.getElementById('install-btn').hidden = false")  # as beforeinstallprompt does
    for route in ("#connect", "#pair=ABCDEF"):
        page.goto(f"{server.url}/{route}")
        title = page.locator("#screen-title")
        page.wait_for_function("document.getElementById('screen-title').textContent.length > 0")
        page.evaluate("document.getElementById('install-btn').hidden = false")
        whole = title.evaluate("(t) => t.scrollWidth <= t.clientWidth")
        assert whole, title.inner_text()
        assert page.locator("#install-btn").is_visible()
