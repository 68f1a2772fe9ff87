"""What a user coming from a phone gallery expects, in mobile-emulated chromium against the real server
(worker off): pairing asks a device name (the phone's model), the settings screen (devices, rename,
pair another phone with a QR code, server version and addresses), the viewer's star, move, share and
delete (to the trash, with Undo), the trash screen, and selecting several photos in the library.
Each small defect the first users reported has its check here too, grouped into few browser sessions.

Screenshots go to test-artifacts/screenshots/ and, with JAICAT_UPDATE_SCREENSHOTS=1 (or when missing),
to docs/screenshots/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fixtures.browser import pair_phone, shot, upload_file as upload
from e2e.conftest import PHONE  # the `phone` fixture's emulated phone (CSP bypassed: see e2e/conftest.py)


pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

ROOT = Path(__file__).resolve().parents[2]
MEDIA = ROOT / "tests" / "media"
PIXEL_UA = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Mobile Safari/537.36")


def photo(server, pid: int) -> dict:
    return server.get(f"/api/photos/{pid}").json()


@pytest.fixture
def pixel(browser):
    """A phone that says it is a Pixel 8, so pairing can name it after its model."""
    ctx = browser.new_context(**PHONE, user_agent=PIXEL_UA, accept_downloads=True)
    ctx.set_default_timeout(20_000)
    page = ctx.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("dialog", lambda d: d.accept())
    yield page
    ctx.close()


def test_pair_print_the_running_servers_address(live_server):
    """`jaicat pair` prints the address and port the server really listens on, read from what the
    server wrote at start (not the settings' default port 8787)."""
    out = live_server.cli("pair", "--no-qr").stdout
    assert f"http://127.0.0.1:{live_server.port}/#pair=" in out, out
    assert ":8787" not in out and "UTC" not in out
    # with the server stopped, the command says so instead of printing a link that opens nothing
    info = (live_server.data_dir / "server.json").read_text()
    assert str(live_server.port) in info


def test_settings_viewer_actions_and_trash(live_server_factory, pixel):
    server = live_server_factory()
    ids = [upload(server, MEDIA / "exif" / f"orientation_{i}.jpg") for i in (1, 2, 3, 4)]
    assert server.post("/api/photos/move", json={"ids": ids[:3], "folder": "Trips", "create": True}).status_code == 200
    assert server.post("/api/folders", json={"path": "Family/Summer"}).status_code == 201
    assert server.post("/api/folders", json={"path": "Pets"}).status_code == 201
    upload(server, MEDIA / "exif" / "orientation_5.jpg")
    child = upload(server, MEDIA / "exif" / "orientation_6.jpg")
    server.post("/api/photos/move", json={"ids": [child], "folder": "Family/Summer"})
    page, errors = pixel, pixel.errors

    # --- pairing asks a name, defaulting to the phone's model; the toast survives the navigation ---
    page.goto(f"{server.url}/#connect")
    assert page.locator("#device-name").input_value() == "Pixel 8"
    page.locator("#pair-code").fill(server.phone_code())
    page.locator("#pair-btn").click()
    page.wait_for_url("**#upload")
    page.locator(".toast", has_text="Paired as “Pixel 8”").wait_for()
    shot(page, "upload")

    # --- settings: devices, rename the other one, pair another phone, server facts -------------------
    page.locator('#tabs a[data-tab="settings"]').click()
    page.locator("#device-list .device", has_text="Pixel 8").locator(".chip", has_text="this phone").wait_for()
    page.locator("#server-urls", has_text=f"127.0.0.1:{server.port}").wait_for()
    assert "Jaicat" in page.locator("#server-version").inner_text()
    other = page.locator("#device-list .device", has_text="test phone")
    other.locator(".device-rename").click()
    page.locator("#device-rename").fill("Desk PC")
    page.locator("#device-rename").press("Enter")
    page.locator("#device-list .device-name", has_text="Desk PC").wait_for()
    names = {d["name"] for d in server.get("/api/devices").json()["items"]}
    assert {"Pixel 8", "Desk PC"} <= names
    shot(page, "settings")
    page.locator("#pair-another").click()
    page.locator("#pair-qr").wait_for()
    code = page.locator("#pair-code-shown").inner_text()
    assert re.fullmatch(r"[A-Z0-9]{6}", code)
    # expiry in the phone's clock (the browser's time zone), not UTC
    assert re.search(r"Valid until \d{1,2}:\d{2}", page.locator("#pair-expiry").inner_text())
    assert page.evaluate("document.getElementById('pair-qr').width") >= 21 * 6
    shot(page, "pair-another")
    page.keyboard.press("Escape")

    # --- viewer: star, move, share (download where the browser cannot share files), delete + undo --
    page.goto(f"{server.url}/#library?folder=Trips")
    page.locator(f'#photo-grid .thumb[data-photo-id="{ids[0]}"]').click()
    page.wait_for_url(f"**#photo/{ids[0]}")
    page.locator("#favourite-btn").click()
    page.locator('#favourite-btn[aria-pressed="true"]').wait_for()
    assert photo(server, ids[0])["favourite"] is True
    folder_link = page.locator("#photo-folder a").bounding_box()
    assert folder_link["height"] >= 44, folder_link
    shot(page, "photo")
    page.locator("#move-btn").click()
    page.locator('.folder-option[data-folder="Pets"]').click()
    page.locator(".toast", has_text="Moved 1 photo to Pets").wait_for()
    page.locator("#photo-folder", has_text="Pets").wait_for()
    assert photo(server, ids[0])["folder"] == "Pets"
    with page.expect_download() as dl:
        page.locator("#share-btn").click()
    assert dl.value.suggested_filename == "orientation_1.jpg"
    page.locator("#delete-btn").click()
    page.locator(".toast", has_text="moved to the trash").wait_for()
    assert photo(server, ids[0])["trashed_at"] is not None
    page.locator("#undo-trash").click()
    page.locator(".toast", has_text="Restored 1 photo").wait_for()
    assert photo(server, ids[0])["trashed_at"] is None and photo(server, ids[0])["folder"] == "Pets"

    # --- library: breadcrumbs big enough, a parent of folders only, select several and delete -------
    page.goto(f"{server.url}/#library?folder=Family")
    page.locator("#grid-status", has_text="No photos directly in this folder").wait_for()
    for box in page.locator(".crumbs a").evaluate_all("els => els.map(e => e.getBoundingClientRect().height)"):
        assert box >= 44
    page.goto(f"{server.url}/#library?folder=Trips")
    page.locator("#photo-grid .thumb").nth(1).wait_for()
    page.locator("#select-btn").click()
    for pid in ids[1:3]:
        page.locator(f'#photo-grid .thumb[data-photo-id="{pid}"]').click()
    page.locator("#select-count", has_text="2 selected").wait_for()
    shot(page, "select")
    page.locator("#select-delete").click()
    page.locator(".toast", has_text="2 photos moved to the trash").wait_for()
    assert server.get("/api/photos?folder=Trips").json()["items"] == []

    # --- trash: restore one, delete the other for good ---------------------------------------------
    page.goto(f"{server.url}/#trash")
    page.locator(f'#trash-grid .thumb[data-photo-id="{ids[1]}"]').click()
    page.locator("#restore-btn").click()
    page.locator(".toast", has_text="Restored 1 photo").wait_for()
    assert photo(server, ids[1])["folder"] == "Trips"
    page.locator(f'#trash-grid .thumb[data-photo-id="{ids[2]}"]').wait_for()
    shot(page, "trash")
    page.locator("#empty-trash-btn").click()  # confirm() is accepted by the fixture
    page.locator("#trash-status", has_text="The trash is empty").wait_for()
    assert server.get(f"/api/photos/{ids[2]}").status_code == 404

    # --- a folder rename's toast is still there on the renamed folder's screen -----------------------
    page.goto(f"{server.url}/#library?folder=Pets")
    page.locator("#rename-folder").click()
    page.locator("#rename-to").fill("Animals")
    page.locator("#rename-to").press("Enter")
    page.wait_for_url("**folder=Animals")
    page.locator(".toast", has_text="Renamed to Animals").wait_for()
    assert not errors, errors


class Touch:
    """A finger, through CDP: Chrome turns these into touch *and* pointer events, like a phone."""

    def __init__(self, page):
        self.cdp = page.context.new_cdp_session(page)

    def drag(self, x0: float, y0: float, x1: float, y1: float, steps: int = 12) -> None:
        import time

        send = self.cdp.send
        send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x0, "y": y0}]})
        for i in range(1, steps + 1):
            x, y = x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps
            send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
            time.sleep(0.016)
        send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def test_small_defects_on_the_phone(live_server_factory, phone):
    import sqlite3

    server = live_server_factory()
    ids = [upload(server, MEDIA / "exif" / f"orientation_{i}.jpg") for i in (1, 2, 3)]
    server.post("/api/photos/move", json={"ids": ids, "folder": "Trips", "create": True})
    r = server.post(f"/api/photos/{ids[1]}/regions", json={"x": 0.2, "y": 0.2, "w": 0.5, "h": 0.5, "label": "tower"})
    assert r.status_code == 201
    with sqlite3.connect(server.settings.db_path, timeout=10) as db:
        # a small face (the worker is off: as the face stage would store it) and a running job
        db.execute("INSERT INTO face (photo_id, x, y, w, h, encoding, confirmed) VALUES (?, 0.05, 0.05, 0.06, 0.06, x'', 0)",
                   (ids[1],))
        db.execute("INSERT INTO job (kind, status, total, done, message, created_at, updated_at) "
                   "VALUES ('analyse', 'running', 10, 3, 'photo 3', datetime('now'), datetime('now'))")
    page = phone
    pair_phone(page, server)

    # --- the job line sits in the top bar: it covers nothing of the screen ----------------------------
    page.goto(f"{server.url}/#library?folder=Trips")
    page.locator("#jobs .job-line").wait_for()
    page.locator(f'#photo-grid .thumb[data-photo-id="{ids[2]}"]').wait_for()  # the screen has rendered
    jobs, top = page.locator("#jobs").bounding_box(), page.locator(".topbar").bounding_box()
    assert jobs["y"] + jobs["height"] <= top["y"] + top["height"] + 0.5, (jobs, top)
    first = page.locator("#view > *").first.bounding_box()
    assert first["y"] >= top["y"] + top["height"], (first, top)
    assert "analyse 3/10" in page.locator("#jobs").inner_text()

    # --- "Save tags" saves on the first tap, with the typed tag not yet added --------------------------
    page.locator(f'#photo-grid .thumb[data-photo-id="{ids[2]}"]').click()  # newest first: ids[1] is next
    page.wait_for_url(f"**#photo/{ids[2]}")
    page.locator("#edit-tags-btn").click()
    page.locator("#photo-tags .chip-input").fill("sunset")
    page.locator("#save-tags-btn").click()
    page.locator(".toast", has_text="Tags saved").wait_for(timeout=5000)
    assert [t["name"] for t in photo(server, ids[2])["tags"]] == ["sunset"]

    # --- a swipe that starts on the edge arrow moves to the next photo (a tap on it still works) --------
    nxt = page.locator(".nav-next").bounding_box()
    Touch(page).drag(nxt["x"] + nxt["width"] / 2, nxt["y"] + nxt["height"] / 2, 40, nxt["y"] + nxt["height"] / 2)
    page.wait_for_url(f"**#photo/{ids[1]}")
    page.wait_for_timeout(600)
    assert page.url.endswith(f"#photo/{ids[1]}")  # moved once: the release was not also a tap
    page.locator(".nav-prev").click()
    page.wait_for_url(f"**#photo/{ids[2]}")

    # --- regions: a face box is a finger's target; a box drawn over a box; the similar message spans ----
    page.goto(f"{server.url}/#regions/{ids[1]}")
    face = page.locator(".box-face").first
    face.wait_for()
    fb = face.bounding_box()
    assert fb["width"] < 44  # the face itself is small ...
    cx, cy = fb["x"] + fb["width"] / 2, fb["y"] + fb["height"] / 2
    face.evaluate("e => e.scrollIntoView({block: 'center'})")
    fb = face.bounding_box()
    cx, cy = fb["x"] + fb["width"] / 2, fb["y"] + fb["height"] / 2
    for dx, dy in ((21, 0), (-21, 0), (0, 21), (0, -21)):  # ... its hit area reaches 44 px around it
        hit = page.evaluate("([x, y]) => { const e = document.elementFromPoint(x, y); return e ? e.className : null; }", [cx + dx, cy + dy])
        assert hit and "box-face" in hit, (fb, dx, dy, hit)
    region = page.locator(".box-region").bounding_box()
    x0, y0 = region["x"] + region["width"] * 0.3, region["y"] + region["height"] * 0.3
    Touch(page).drag(x0, y0, x0 + region["width"] * 0.4, y0 + region["height"] * 0.4)
    page.locator("#region-label").fill("window")
    page.locator("#region-save").click()
    page.locator(".toast", has_text="Saved “window”").wait_for()
    labels = sorted(r["label"] for r in server.get(f"/api/photos/{ids[1]}/regions").json()["items"])
    assert labels == ["tower", "window"]
    msg = page.locator("#similar-list li.muted", has_text="Similar regions unavailable")  # no CLIP here
    msg.wait_for()
    lines = msg.evaluate("e => Math.round(e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight))")
    assert lines <= 3, msg.inner_text()  # not one word a line
    assert not page.errors, page.errors


# Every interactive element on a screen is at least 44 px in its smaller dimension, except these
# (listed in README, "The phone app"): the map's attribution link (its size is the licence text's), a
# checkbox inside a label.toggle (the whole label, 44 px high, is the target), the visually hidden file
# input (its visible label button is the target), and region/face boxes smaller than 44 px (their hit
# area reaches 44 px around the centre: probed with elementFromPoint in test_small_defects_on_the_phone).
TARGET_EXCEPTIONS = (".map-credit a", "label.toggle input[type=checkbox]", "input.visually-hidden",
                     ".region-overlay .box")
MEASURE = """(exceptions) => {
  const sel = "a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button]";
  const out = [];
  for (const el of document.querySelectorAll(sel)) {
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height || el.closest("[hidden]")) continue;
    const st = getComputedStyle(el);
    if (st.visibility === "hidden" || st.display === "none" || st.opacity === "0") continue;
    if (exceptions.some((x) => el.matches(x))) continue;
    if (Math.min(r.width, r.height) < 43.5) {
      out.push(`${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}.${[...el.classList].join(".")} `
        + `"${(el.innerText || el.value || el.getAttribute("aria-label") || "").trim().slice(0, 30)}" `
        + `${Math.round(r.width)}x${Math.round(r.height)}`);
    }
  }
  return out;
}"""
PNG_1PX = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000" "1f15c4890000000d49444154789c6360f8cf000000030101"
                        "00c9fe92ef0000000049454e44ae426082")


def small_targets(page) -> list[str]:
    return page.evaluate(MEASURE, list(TARGET_EXCEPTIONS))


def test_every_screen_has_finger_sized_targets(live_server_factory, browser):
    import sqlite3

    server = live_server_factory()
    ids = [upload(server, MEDIA / "exif" / f"orientation_{i}.jpg") for i in (1, 2, 3, 4, 5)]
    server.post("/api/photos/move", json={"ids": ids[:3], "folder": "Trips/Paris 2024", "create": True})
    server.request("PATCH", f"/api/photos/{ids[0]}", json={"tags": ["eiffel tower", "sunset"], "favourite": True})
    server.post(f"/api/photos/{ids[0]}/regions", json={"x": 0.2, "y": 0.2, "w": 0.4, "h": 0.4, "label": "tower"})
    server.post("/api/photos/trash", json={"ids": [ids[4]]})
    with sqlite3.connect(server.settings.db_path, timeout=10) as db:
        db.execute("INSERT INTO person (name, created_at) VALUES ('Amy H', datetime('now'))")
        db.execute("INSERT INTO face (photo_id, x, y, w, h, encoding, confirmed, person_id) "
                   "VALUES (?, 0.6, 0.1, 0.2, 0.25, x'', 1, 1)", (ids[0],))
        db.execute("UPDATE photo SET status = 'suggested', suggestions = ? WHERE id = ?",
                   ('[{"folder": "Trips/Paris 2024", "score": 0.8, "reason": "3 similar photos"}]', ids[3]))
    ctx = browser.new_context(**PHONE, user_agent=PIXEL_UA)
    ctx.set_default_timeout(20_000)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    tiles: list[str] = []

    def tile(route):
        tiles.append(route.request.url)
        route.fulfill(status=200, content_type="image/png", body=PNG_1PX)

    page.route("https://tile.openstreetmap.org/**", tile)
    found: dict[str, list[str]] = {}
    try:
        page.goto(f"{server.url}/#connect")
        page.locator("#pair-code").wait_for()
        found["connect"] = small_targets(page)
        shot(page, "connect")
        pair_phone(page, server)
        screens = {
            "upload": ("#upload", "#file-input, .upload-pick"),
            "review": ("#review", ".review-card"),
            "library": ("#library", "#photo-grid .thumb"),
            "folder": ("#library?folder=Trips%2FParis%202024", "#photo-grid .thumb"),
            "search": (f"#search?q={'person:Amy H'.replace(' ', '%20')}", "#search-hints .hint-line"),
            "photo": (f"#photo/{ids[0]}", "#favourite-btn"),
            "regions": (f"#regions/{ids[0]}", ".box-region"),
            "people": ("#people", ".person, .people-grid"),
            "settings": ("#settings", "#device-list .device"),
            "trash": ("#trash", "#trash-grid .thumb"),
            "timeline": ("#timeline", ".date-head"),
            "map": ("#map", ".map-marker"),
            "ideas": (f"#ideas/{ids[0]}", ".idea"),
        }
        for name, (route, ready) in screens.items():
            page.goto(f"{server.url}/{route}")
            page.locator(ready).first.wait_for(state="attached")
            page.wait_for_timeout(300)
            found[name] = small_targets(page)
            shot(page, name)
        # sheets: choose a folder, pair another phone, select mode
        page.goto(f"{server.url}/#photo/{ids[0]}")
        page.locator("#move-btn").click()
        page.locator(".folder-option").first.wait_for()
        found["choose-folder"] = small_targets(page)
        shot(page, "choose-folder")
        page.keyboard.press("Escape")
        page.goto(f"{server.url}/#settings")
        page.locator("#pair-another").click()
        page.locator("#pair-qr").wait_for()
        found["pair-another"] = small_targets(page)
        page.keyboard.press("Escape")
        page.goto(f"{server.url}/#library?folder=Trips%2FParis%202024")
        page.locator("#select-btn").click()
        page.locator(f'#photo-grid .thumb[data-photo-id="{ids[1]}"]').click()
        found["select"] = small_targets(page)
    finally:
        ctx.close()
    assert tiles and all(t.startswith("https://tile.openstreetmap.org/") for t in tiles)
    bad = {k: v for k, v in found.items() if v}
    assert not bad, "\n".join(f"{k}: {v}" for k, v in bad.items())
    assert not errors, errors


def test_timeline_map_post_ideas_and_search_chips(live_server_factory, pixel):
    import sqlite3

    server = live_server_factory()
    ids = [upload(server, MEDIA / "exif" / f"orientation_{i}.jpg") for i in (1, 2, 3)]
    server.post("/api/photos/move", json={"ids": ids[:2], "folder": "Trips/Paris 2024", "create": True})
    server.request("PATCH", f"/api/photos/{ids[0]}", json={"tags": ["sunset"]})
    with sqlite3.connect(server.settings.db_path, timeout=10) as db:
        db.execute("UPDATE photo SET taken_at = '2019-05-04 10:00:00', gps_lat = NULL, gps_lon = NULL WHERE id = ?", (ids[2],))
        db.execute("UPDATE photo SET gps_lat = 40.7, gps_lon = -74.0 WHERE id = ?", (ids[1],))  # New York
        db.execute("UPDATE photo SET caption = 'a tower at sunset' WHERE id = ?", (ids[0],))
        db.execute("INSERT INTO person (name, created_at) VALUES ('Amy H', datetime('now'))")
        db.execute("INSERT INTO face (photo_id, x, y, w, h, encoding, confirmed, person_id) "
                   "VALUES (?, 0.6, 0.1, 0.2, 0.25, x'', 1, 1)", (ids[0],))
    page = pixel
    page.route("https://tile.openstreetmap.org/**", lambda r: r.fulfill(status=200, content_type="image/png", body=PNG_1PX))
    pair_phone(page, server)

    # --- timeline: month headers newest first, a scrubber year jumps to its photos ---------------------
    page.goto(f"{server.url}/#timeline")
    heads = page.locator(".date-head")
    heads.nth(1).wait_for()
    assert [h.split(" ·")[0] for h in heads.all_inner_texts()] == ["July 2024", "May 2019"]
    assert page.locator('.date-head[data-month="2019-05"] + .photo-grid .thumb').count() == 1
    page.set_viewport_size({"width": 390, "height": 420})  # a short screen: the timeline scrolls
    page.locator('#scrubber .scrub-year[data-year="2019"]').click()
    # scrolled to that year's header (or as far as the page goes)
    page.wait_for_function("""(() => { const e = document.scrollingElement;
        return document.querySelector('.date-head[data-month="2019-05"]').getBoundingClientRect().top < 200
            || (e.scrollTop > 0 && e.scrollTop + innerHeight >= e.scrollHeight - 2); })()""")
    page.set_viewport_size(PHONE["viewport"])

    # --- map: two places, a marker opens its photo ----------------------------------------------------
    page.goto(f"{server.url}/#map")
    page.locator(".map-marker").first.wait_for()
    assert page.locator(".map-marker").count() == 2  # Paris and New York, far apart
    page.locator(f'.map-marker[data-photo-id="{ids[1]}"]').click()
    page.wait_for_url(f"**#photo/{ids[1]}")

    # --- post ideas from the viewer: people only with the toggle; copy ---------------------------------
    page.goto(f"{server.url}/#photo/{ids[0]}")
    page.locator("#ideas-btn").click()
    page.wait_for_url(f"**#ideas/{ids[0]}")
    first = page.locator(".idea .idea-text").first
    first.wait_for()
    assert first.inner_text().startswith("A tower at sunset in Paris, July 2024.")
    assert "Amy" not in page.locator("#idea-list").inner_text()
    page.locator("#ideas-people").check()
    page.locator("#idea-list", has_text="With Amy H in Paris").wait_for()
    page.locator(".idea-copy").first.click()
    page.locator(".toast", has_text="Copied").wait_for()

    # --- search: a person's name typed as plain text finds them; a filter chip adds tag: --------------
    page.goto(f"{server.url}/#search?q={'amy h'.replace(' ', '%20')}")
    page.locator(f'#photo-grid .thumb[data-photo-id="{ids[0]}"]').wait_for()
    page.goto(f"{server.url}/#library")
    page.locator('.filter-chip[data-filter="tag"]').click()
    page.locator(".folder-option", has_text="sunset").click()
    page.wait_for_url("**#search?q=tag%3Asunset")
    # the library's grid showed this photo too: wait for the search's own grid to finish loading
    page.locator(".crumbs", has_text="Search “tag:sunset”").wait_for()
    page.locator("#grid-status", has_text="1 photo").wait_for()
    assert page.locator("#photo-grid .thumb").count() == 1
    assert page.locator(f'#photo-grid .thumb[data-photo-id="{ids[0]}"]').count() == 1
    assert not page.errors, page.errors
