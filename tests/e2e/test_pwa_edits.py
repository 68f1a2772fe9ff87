"""Edits on the phone, in mobile-emulated chromium against the real server (worker off): a review card
with edited tags filed in the suggested folder is logged as an "accept"; the viewer edits a photo's
tags; the region label field offers the library's labels; search results load page after page.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from fixtures.browser import pair_phone, upload_file as upload

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]



def tag_names(server, pid: int) -> list[str]:
    return sorted(t["name"] for t in server.get(f"/api/photos/{pid}").json()["tags"])


def test_edits_on_the_phone(live_server_factory, phone, full_media_dir):
    server = live_server_factory()
    ids = [upload(server, full_media_dir / "exif_real" / f"Landscape_{i}.jpg") for i in range(1, 7)]
    for pid in ids[1:]:
        assert server.request("PATCH", f"/api/photos/{pid}", json={"tags": ["hill"]}).status_code == 200
    assert server.post("/api/folders", json={"path": "Trips"}).status_code == 201
    # the worker is off: give the first photo a suggestion as the suggester would
    with sqlite3.connect(server.settings.db_path, timeout=10) as db:
        db.execute("UPDATE photo SET status = 'suggested', suggestions = ? WHERE id = ?",
                   (json.dumps([{"folder": "Trips", "score": 0.9, "reason": "test"}]), ids[0]))
    r = server.post(f"/api/photos/{ids[1]}/regions", json={"x": 0.1, "y": 0.1, "w": 0.3, "h": 0.3,
                                                            "label": "waterfall"})
    assert r.status_code == 201, r.text

    page, errors = phone, phone.errors
    pair_phone(page, server)

    # --- review: add a tag on the card, then accept the suggested folder --------------------------
    page.goto(f"{server.url}/#review")
    card = page.locator(f'.review-card[data-depth="0"][data-photo-id="{ids[0]}"]')
    card.locator(".suggested-folder", has_text="Trips").wait_for()
    page.locator(".card-edit summary").click()
    page.locator(".card-edit .chip-input").first.fill("sunrise")
    page.locator(".card-edit .chip-add button", has_text="Add").first.click()
    page.locator(".card-edit .chip", has_text="sunrise").wait_for()
    page.locator("#accept-btn").click()
    page.locator(".toast", has_text="Filed in Trips").wait_for()
    last = server.get("/api/decisions?limit=1").json()["items"][0]
    assert last["photo_id"] == ids[0] and last["action"] == "accept" and last["tags"] == ["sunrise"]
    assert tag_names(server, ids[0]) == ["sunrise"]

    # --- viewer: edit the tags with the chips' buttons --------------------------------------------
    page.goto(f"{server.url}/#photo/{ids[1]}")
    page.locator("#photo-tags .chip", has_text="hill").wait_for()
    page.locator("#edit-tags-btn").click()
    page.locator('#photo-tags button[aria-label="Remove tag hill"]').click()
    page.locator("#photo-tags .chip-input").fill("lighthouse")
    page.locator("#photo-tags .chip-add button", has_text="Add").click()
    page.locator("#save-tags-btn").click()
    page.locator(".toast", has_text="Tags saved").wait_for()
    page.locator("#photo-tags a.chip", has_text="lighthouse").wait_for()
    assert tag_names(server, ids[1]) == ["lighthouse"]
    assert page.locator("#photo-tags a.chip", has_text="hill").count() == 0

    # --- regions: the label field offers labels used on other photos -------------------------------
    page.goto(f"{server.url}/#regions/{ids[2]}")
    page.wait_for_selector('#region-labels option[value="waterfall"]', state="attached")

    # --- search: results come page by page as the grid scrolls (pages of 2 here) -------------------
    searches: list[str] = []

    def small_pages(route):
        searches.append(route.request.url)
        route.continue_(url=route.request.url.replace("limit=60", "limit=2"))

    page.route("**/api/search?*", small_pages)
    page.goto(f"{server.url}/#search?q=tag%3Ahill")
    page.wait_for_function("document.querySelectorAll('#photo-grid .thumb').length === 4")
    page.locator("#grid-status", has_text="4 photos").wait_for()
    shown = sorted(int(x) for x in page.eval_on_selector_all("#photo-grid .thumb", "els => els.map(e => e.dataset.photoId)"))
    assert shown == sorted(ids[2:])
    assert len(searches) == 2 and "cursor=2" in searches[1]
    assert not errors, errors
