"""Browser-playable previews of videos browsers cannot play (an iPhone's HEVC MOV): H.264/AAC MP4,
upright, at most 720p, the whole clip (up to the cap), made in the background and served with Range."""

from __future__ import annotations

import av
import pytest
from fixtures.videos import live_still, make_video

from jaicat.db import Photo
from jaicat.photos import preview, trash
from jaicat.photos.ingest import ingest_file
from jaicat.pipeline.previews import PreviewMaker


def _encodes(codec: str) -> bool:
    try:
        av.codec.Codec(codec, "w")
        return True
    except Exception:  # noqa: BLE001
        return False


# the wheel ships libx265: the clip is HEVC as an iPhone writes it; without it, MPEG-4 part 2 in a
# MOV is another codec browsers cannot play
PHONE_CODEC = "libx265" if _encodes("libx265") else "mpeg4"


def probe(path):
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frame = next(c.decode(v))
        return {"codec": v.codec_context.name, "size": (v.width, v.height),
                "duration": c.duration / 1_000_000, "rotation": int(getattr(frame, "rotation", 0) or 0),
                "audio": [a.codec_context.name for a in c.streams.audio], "first": frame.to_image()}


@pytest.fixture
def phone_clip(settings, tmp_path):
    """A portrait phone clip: stored sideways with a display rotation, HEVC with AAC sound, 2 s."""
    clip = make_video(tmp_path / "IMG_0042.MOV", codec=PHONE_CODEC, seconds=2, size=(96, 160), rotation=90,
                      fps=15, audio=True)
    return ingest_file(clip, settings).photo


def test_hevc_clip_gets_an_upright_h264_preview(settings, phone_clip):
    src = settings.root_path(phone_clip.root) / phone_clip.path
    assert not preview.browser_plays(src)
    maker = PreviewMaker(settings)
    assert maker.make(phone_clip) is True
    out = preview.preview_path(settings, phone_clip.sha256)
    got = probe(out)
    assert got["codec"] == "h264" and got["audio"] == ["aac"]
    assert got["rotation"] == 0 and got["size"] == (phone_clip.width, phone_clip.height) == (96, 160)
    assert got["duration"] == pytest.approx(phone_clip.duration, abs=0.1)
    top, left = got["first"].getpixel((60, 5)), got["first"].getpixel((3, 100))
    assert top[0] > 180 and top[2] < 80, f"the red band is on top of the upright preview: {top}"
    assert left[2] > 180 and left[0] < 80, f"the blue band is down its left: {left}"
    assert preview.browser_plays(out)
    assert maker.make(phone_clip) is False  # made once


def test_h264_mp4_plays_as_it_is_and_gets_no_preview(settings, tmp_path):
    photo = ingest_file(make_video(tmp_path / "VID_1.mp4", seconds=1, audio=True), settings).photo
    assert PreviewMaker(settings).make(photo) is False
    assert not preview.preview_path(settings, photo.sha256).exists()


def test_preview_is_at_most_720p_and_keeps_the_aspect():
    assert preview._size(3840, 2160) == (1280, 720)
    assert preview._size(2160, 3840) == (720, 1280)
    assert preview._size(1920, 1440) == (960, 720)
    assert preview._size(640, 360) == (640, 360)


def test_a_long_clip_is_previewed_up_to_the_cap(settings, tmp_path, monkeypatch):
    monkeypatch.setattr(preview, "PREVIEW_MAX_SECONDS", 1.0)
    clip = make_video(tmp_path / "long.MOV", codec=PHONE_CODEC, seconds=3, fps=10, audio=True)
    facts = preview.make_preview(clip, tmp_path / "p.mp4")
    got = probe(tmp_path / "p.mp4")
    assert got["duration"] == pytest.approx(1.0, abs=0.25) and facts.duration == pytest.approx(1.0, abs=0.15)


def test_the_loop_makes_missing_previews_and_sweeps_interrupted_ones(settings, phone_clip):
    stale = preview.preview_path(settings, "ab" * 32).with_name(".x.mp4.dead.part")
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half")
    maker = PreviewMaker(settings)
    maker._begin()
    maker._step()
    assert not stale.exists()
    assert preview.preview_path(settings, phone_clip.sha256).is_file() and maker.made == 1


def test_a_damaged_video_gets_no_preview_and_is_not_retried(settings, phone_clip, caplog):
    src = settings.root_path(phone_clip.root) / phone_clip.path
    data = bytearray(src.read_bytes())
    src.chmod(0o644)
    src.write_bytes(bytes(data[:4096]))  # the file was damaged after ingest
    maker = PreviewMaker(settings)
    assert maker.make(phone_clip) is False
    assert not preview.preview_path(settings, phone_clip.sha256).exists()
    assert phone_clip.sha256 in maker.settled


def test_emptying_the_trash_deletes_the_preview(settings, phone_clip):
    PreviewMaker(settings).make(phone_clip)
    trash.trash_photo(phone_clip, settings)
    assert trash.empty_trash(settings) == 1
    assert not preview.preview_path(settings, phone_clip.sha256).exists()


def test_api_serves_the_preview_with_range(client, settings, phone_clip, tmp_path):
    item = client.get(f"/api/photos/{phone_clip.id}").json
    assert item["video_preview_url"] is None  # not made yet: the viewer plays the original
    r = client.get(f"/api/photos/{phone_clip.id}/video-preview")
    assert r.status_code == 404 and "no preview" in r.json["message"]
    PreviewMaker(settings).make(phone_clip)
    item = client.get(f"/api/photos/{phone_clip.id}").json
    assert item["video_preview_url"] == f"/api/photos/{phone_clip.id}/video-preview"
    data = preview.preview_path(settings, phone_clip.sha256).read_bytes()
    whole = client.get(item["video_preview_url"])
    assert whole.status_code == 200 and whole.mimetype == "video/mp4" and whole.data == data
    assert whole.headers["Accept-Ranges"] == "bytes"
    part = client.get(item["video_preview_url"], headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206 and part.headers["Content-Range"] == f"bytes 100-1099/{len(data)}"
    assert part.data == data[100:1100]
    still = ingest_file(live_still(tmp_path / "IMG_9.JPG", "LIVE-9"), settings).photo
    assert client.get(f"/api/photos/{still.id}/video-preview").status_code == 404


def test_live_photo_motion_plays_its_preview(client, settings, tmp_path):
    still = ingest_file(live_still(tmp_path / "IMG_8.JPG", "LIVE-8"), settings).photo
    motion = ingest_file(make_video(tmp_path / "IMG_8.MOV", codec=PHONE_CODEC, seconds=1, content_id="LIVE-8"),
                         settings).photo
    assert client.get(f"/api/photos/{still.id}").json["live_video_url"] == f"/api/photos/{motion.id}/original"
    assert PreviewMaker(settings).make(Photo.get_by_id(motion.id))
    assert client.get(f"/api/photos/{still.id}").json["live_video_url"] == f"/api/photos/{motion.id}/video-preview"
