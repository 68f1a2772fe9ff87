"""Review's "Auto-filed (N)" strip in the browser: photos that filed themselves (JAICAT_AUTO_FILE=0.05)
leave the card stack and show up in the strip live, with how many are new; opening the strip marks
them seen; each one opens in the viewer, moves elsewhere, or is undone back into review in one tap.
Settings offers off / 1% / 2% / 5% / 10%."""

from __future__ import annotations

import pytest
from fixtures.browser import pair_phone

from e2e.test_auto_filing import burst_shots, file_by_hand, household, waiting

pytestmark = [pytest.mark.timeout(300), pytest.mark.browser]


def test_the_auto_filed_strip(live_server_factory, monkeypatch, phone):
    server = household(live_server_factory, monkeypatch)
    file_by_hand(server)
    page = phone
    pair_phone(page, server)
    page.goto(f"{server.url}/#review")
    page.locator("#review-empty").wait_for()
    assert page.locator("#auto-filed").is_hidden()  # nothing auto-filed yet

    later = burst_shots(3, 1)  # one more photo of each burst, while the phone looks at Review
    ids = waiting(server, later, 100)
    page.locator("#auto-filed-btn", has_text="Auto-filed (3)").wait_for(timeout=30_000)
    assert page.locator("#auto-filed-new").inner_text() == "3 new"
    for pid in ids:  # their cards went with them
        page.locator(f'.review-card[data-photo-id="{pid}"]').wait_for(state="detached")

    page.locator("#auto-filed-btn").click()  # opening the strip: seen, kept
    items = page.locator(".auto-filed-item")
    items.nth(2).wait_for()
    assert [int(i) for i in items.evaluate_all("els => els.map(e => e.dataset.photoId)")] == sorted(ids, reverse=True)
    page.locator("#auto-filed-new").wait_for(state="hidden")
    assert server.get("/api/settings").json()["unseen"] == 0
    lake, birthday, garden = ids
    assert page.locator(f'.auto-filed-item[data-photo-id="{lake}"] .auto-filed-folder').inner_text() == "Trips/Lake"

    # undo one: it leaves the strip and waits in review again
    page.locator(f'.auto-filed-item[data-photo-id="{lake}"] .auto-filed-undo').click()
    page.locator(".toast", has_text="back in review").wait_for()
    page.locator(f'.auto-filed-item[data-photo-id="{lake}"]').wait_for(state="detached")
    page.locator(f'.review-card[data-photo-id="{lake}"]').wait_for()
    assert server.get(f"/api/photos/{lake}").json()["root"] == "inbox"
    assert page.locator("#auto-filed-btn").inner_text().startswith("Auto-filed (2)")

    # move one elsewhere: a correction, now the user's filing
    page.locator(f'.auto-filed-item[data-photo-id="{birthday}"] .auto-filed-move').click()
    page.locator("#folder-search").fill("Garden")
    page.locator('.folder-option[data-folder="Garden"]').first.click()
    page.locator(".toast", has_text="Moved to Garden").wait_for()
    page.locator(f'.auto-filed-item[data-photo-id="{birthday}"]').wait_for(state="detached")
    p = server.get(f"/api/photos/{birthday}").json()
    assert (p["folder"], p["filed_by"]) == ("Garden", "user")

    # open the last one in the viewer
    page.locator(f'.auto-filed-item[data-photo-id="{garden}"] .auto-filed-open').click()
    page.wait_for_url(f"**/#photo/{garden}")
    page.locator(".viewer-img").first.wait_for()

    # Settings: the control shows the setting, and changes it
    page.goto(f"{server.url}/#settings")
    select = page.locator("#auto-file-select")
    select.wait_for()
    assert select.evaluate("s => [...s.options].map(o => o.textContent)") == [
        "Off", "Up to 1% wrong", "Up to 2% wrong", "Up to 5% wrong", "Up to 10% wrong"]
    assert select.input_value() == "0.05"
    page.wait_for_function("!document.querySelector('#auto-file-status').textContent.startsWith('…')")
    # two of its three filings were corrected just now: it pauses by itself, and says so
    assert server.get("/api/settings").json()["paused"] is True
    assert page.locator("#auto-file-status").inner_text().startswith("Paused: recent auto-filed photos were corrected")
    select.select_option("off")
    page.locator("#auto-file-status", has_text="Off").wait_for()
    assert server.get("/api/settings").json()["auto_file"] == "off"
    assert page.errors == []
