"""A phone's camera roll has videos and Live Photos: in chromium against the real server, a video is
uploaded from the picker, shows its poster in Review and in the grid, is filed by a swipe, and plays
in the viewer (the browser streams it with Range requests); a Live Photo is one item that plays."""

from __future__ import annotations

import hashlib
import time

import pytest
from fixtures.browser import pair_phone

from fixtures.videos import live_still, make_video

from e2e.test_pwa_flow import Touch, top_card, upload_via_api

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]


def test_a_video_and_a_live_photo_on_the_phone(live_server, phone, tmp_path):
    server, page = live_server, phone
    # history: one clip already filed in "Clips", so the suggester has a folder to offer
    first = upload_via_api(server, make_video(tmp_path / "first.mp4", seconds=2))
    assert server.post(f"/api/review/{first}/fix", json={"folder": "Clips", "create": True}).status_code == 200
    clip = make_video(tmp_path / "VID_20240714_183005.mp4", seconds=4, size=(320, 240),
                      creation_time="2024-07-14T16:30:05Z", location="+48.8580+002.2945/")

    pair_phone(page, server)
    page.wait_for_selector("#file-input", state="attached")
    page.set_input_files("#file-input", [str(clip)])
    page.wait_for_selector('.queue-card[data-complete="true"]', timeout=60_000)
    assert page.eval_on_selector_all(".upload-item", "els => els.map(e => e.dataset.state)") == ["done"]
    sha = hashlib.sha256(clip.read_bytes()).hexdigest()
    assert server.post("/api/uploads/check", json={"sha256": [sha]}).json()["known"] == [sha]

    # Review: the card shows the poster (a decoded image) and the video mark; a swipe files it
    page.goto(f"{server.url}/#review")
    card = top_card(page)
    card.wait_for()
    card.locator(".media-badge", has_text="0:04").wait_for()
    page.wait_for_function("""() => { const i = document.querySelector('.review-card[data-depth="0"] .card-img img');
        return i && i.complete && i.naturalWidth === 320; }""")  # the poster, at the video's own size
    # the only folder is a guess (below the sure score): a plain choice, and the swipe opens the picker
    card.locator('.suggestion.unsure .choice[data-folder="Clips"]').wait_for(timeout=30_000)
    vid = int(card.get_attribute("data-photo-id"))
    box = card.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 3
    Touch(page).drag(cx, cy, cx + box["width"] * 0.7, cy + 10)
    page.locator('.folder-option[data-folder="Clips"]').first.click()
    page.locator(".toast", has_text="Filed in Clips").wait_for()
    filed = server.get(f"/api/photos/{vid}").json()
    assert filed["folder"] == "Clips" and filed["media"] == "video"
    assert (server.data_dir / "library" / filed["path"]).read_bytes() == clip.read_bytes()

    # the grid: posters with the video mark
    page.goto(f"{server.url}/#library?folder=Clips")
    thumb = page.locator(f'.thumb[data-photo-id="{vid}"]')
    thumb.locator(".media-badge").wait_for()
    page.wait_for_function(f"""() => {{ const i = document.querySelector('.thumb[data-photo-id="{vid}"] img');
        return i && i.complete && i.naturalWidth > 0; }}""")

    # the viewer plays it: the browser reads the MP4 by ranges and the clock moves
    thumb.click()
    video = page.locator("video.viewer-video")
    video.wait_for()
    assert page.locator("#video-length").inner_text() == "0:04"
    page.evaluate("() => { const v = document.querySelector('video.viewer-video'); v.muted = true; return v.play(); }")
    page.wait_for_function("() => document.querySelector('video.viewer-video').currentTime > 0.5", timeout=20_000)
    assert page.evaluate("() => document.querySelector('video.viewer-video').videoWidth") == 320

    # a Live Photo: two uploads, one item, its motion plays from the viewer
    still = upload_via_api(server, live_still(tmp_path / "IMG_0007.JPG", "LIVE-0007"))
    motion = upload_via_api(server, make_video(tmp_path / "IMG_0007.MOV", seconds=2, content_id="LIVE-0007"))
    page.goto(f"{server.url}/#review")
    top_card(page).wait_for()
    ids = page.eval_on_selector_all(".review-card", "els => els.map(e => Number(e.dataset.photoId))")
    assert still in ids and motion not in ids
    top_card(page).locator(".media-badge", has_text="LIVE").wait_for()
    page.goto(f"{server.url}/#photo/{still}")
    page.locator("#live-btn").click()
    page.wait_for_function("() => { const v = document.querySelector('video.viewer-live'); return v && !v.hidden && v.currentTime > 0.2; }",
                           timeout=20_000)
    assert page.errors == []


def test_an_iphone_hevc_clip_plays_its_preview(live_server, phone, tmp_path):
    """Most browsers have no HEVC decoder: the server makes an H.264 preview in the background and the
    viewer plays it, upright."""
    server, page = live_server, phone
    clip = make_video(tmp_path / "IMG_0042.MOV", codec="libx265", seconds=3, size=(96, 160), rotation=90,
                      audio=True)
    vid = upload_via_api(server, clip)
    deadline = time.monotonic() + 60
    while server.get(f"/api/photos/{vid}").json()["video_preview_url"] is None:
        assert time.monotonic() < deadline, "the server made no preview within a minute"
        time.sleep(0.2)
    pair_phone(page, server)
    page.goto(f"{server.url}/#photo/{vid}")
    page.locator('video.viewer-video[data-playing="preview"]').wait_for()
    page.evaluate("() => { const v = document.querySelector('video.viewer-video'); v.muted = true; return v.play(); }")
    page.wait_for_function("() => document.querySelector('video.viewer-video').currentTime > 0.5", timeout=20_000)
    assert page.evaluate("() => [document.querySelector('video.viewer-video').videoWidth, "
                         "document.querySelector('video.viewer-video').videoHeight]") == [96, 160]
    assert page.errors == []
