"""Videos and Live Photos through the API: resumable upload, a poster, playback with Range, one item."""

from __future__ import annotations

import hashlib

from fixtures.videos import live_still, make_video
from jaicat.db import Photo


def _upload(client, data: bytes, name: str, expect: int = 200) -> dict:
    up = client.post("/api/uploads", json={"filename": name, "size": len(data),
                                            "sha256": hashlib.sha256(data).hexdigest()}).json
    step = 64 * 1024
    r = None
    for off in range(0, len(data), step):
        r = client.patch(f"/api/uploads/{up['id']}?offset={off}", data=data[off:off + step],
                         headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == (expect if off + step >= len(data) else 200), r.json
    return r.json


def test_a_video_uploads_gets_a_poster_and_plays_with_range(client, settings, tmp_path):
    data = make_video(tmp_path / "VID_1.mp4", seconds=3, size=(320, 240)).read_bytes()
    done = _upload(client, data, "VID_1.mp4")
    assert done["status"] == "done" and not done["duplicate"]
    pid = done["photo_id"]
    item = client.get(f"/api/photos/{pid}").json
    assert (item["media"], item["mime"], item["filename"]) == ("video", "video/mp4", "VID_1.mp4")
    assert abs(item["duration"] - 3.0) < 0.2
    poster = client.get(item["thumb_url"])
    assert poster.status_code == 200 and poster.mimetype == "image/jpeg"
    # a browser's <video> asks for ranges: seeking must not download the whole file
    mid = len(data) // 2
    part = client.get(item["original_url"], headers={"Range": f"bytes={mid}-{mid + 999}"})
    assert part.status_code == 206 and part.mimetype == "video/mp4"
    assert part.headers["Content-Range"] == f"bytes {mid}-{mid + 999}/{len(data)}"
    assert part.data == data[mid:mid + 1000]
    assert client.get(item["original_url"]).headers["Accept-Ranges"] == "bytes"
    listed = client.get("/api/photos").json["items"]
    assert [p["media"] for p in listed] == ["video"]


def test_a_renamed_text_file_is_refused_with_a_clear_reason(client, tmp_path):
    done = _upload(client, b"this is not a video at all\n" * 100, "clip.mp4", expect=415)
    assert done["error"] == "unsupported_image"
    assert done["message"].startswith("clip.mp4 is not a video Jaicat can read")
    assert Photo.select().count() == 0


def test_a_live_photo_is_one_item(client, settings, tmp_path):
    still = _upload(client, live_still(tmp_path / "IMG_7.JPG", "LIVE-7").read_bytes(), "IMG_7.JPG")
    motion = _upload(client, make_video(tmp_path / "IMG_7.MOV", seconds=1, content_id="LIVE-7").read_bytes(),
                     "IMG_7.MOV")
    items = client.get("/api/photos").json["items"]
    assert [p["id"] for p in items] == [still["photo_id"]]
    review = client.get("/api/review").json
    assert [p["id"] for p in review["items"]] == [still["photo_id"]]
    item = client.get(f"/api/photos/{still['photo_id']}").json
    assert item["live_video_url"] == f"/api/photos/{motion['photo_id']}/original"
    r = client.post(f"/api/review/{still['photo_id']}/fix", json={"folder": "Holidays", "create": True})
    assert r.status_code == 200, r.json
    assert {Photo.get_by_id(i).folder for i in (still["photo_id"], motion["photo_id"])} == {"Holidays"}
