"""Videos come in like photos: deduplicated, dated, placed, with an upright poster; Live Photos are one
item; a damaged or disguised file is refused with a reason and leaves nothing behind."""

from __future__ import annotations

import datetime as dt

import pytest
from PIL import Image

from fixtures.videos import live_still, make_video
from jaicat import errors
from jaicat.db import Decision, Photo
from jaicat.photos import library, live, video
from jaicat.photos.ingest import ingest_file, ingest_paths, thumb_path


def _leftovers(settings):
    return sorted(p for p in settings.tmp.rglob("*") if p.is_file())


def _upright_poster(settings, photo):
    with Image.open(thumb_path(settings, photo, 256)) as t:
        t = t.convert("RGB")
        w, h = t.size
        return t.size, t.getpixel((w // 2, 2)), t.getpixel((2, h // 2))


def test_android_mp4_with_rotation_date_and_gps(settings, tmp_path):
    # a portrait phone video: stored landscape, turned upright by the display matrix
    clip = make_video(tmp_path / "VID_20240714.mp4", size=(96, 160), rotation=90,
                      creation_time="2024-07-14T16:30:05.000000Z", location="+48.8580+002.2945/")
    result = ingest_file(clip, settings)
    p = result.photo
    assert not result.duplicate
    assert (p.media, p.mime, p.original_filename) == ("video", "video/mp4", "VID_20240714.mp4")
    assert (p.width, p.height) == (96, 160)
    assert p.duration == pytest.approx(2.0, abs=0.1)
    # MP4 keeps UTC without a zone: stored as UTC, and it says so
    assert (p.taken_at, p.taken_offset, p.date_source) == (
        dt.datetime(2024, 7, 14, 16, 30, 5), "+00:00", "quicktime:CreateDate")
    assert (round(p.gps_lat, 4), round(p.gps_lon, 4)) == (48.858, 2.2945)
    size, top, left = _upright_poster(settings, p)
    assert size == (96, 160)
    assert top[0] > 180 and top[2] < 80  # the red band is on top: the poster is upright
    assert left[2] > 180 and left[0] < 80
    assert (settings.inbox / p.path).suffix == ".mp4"
    assert ingest_file(clip, settings).duplicate


def test_iphone_hevc_mov_keeps_local_time_zone_and_camera(settings, tmp_path):
    assert _encodes("libx265"), "this PyAV wheel has no HEVC encoder"
    clip = make_video(tmp_path / "IMG_0042.MOV", codec="libx265", seconds=1.5, quicktime={
        "com.apple.quicktime.creationdate": "2024-07-14T18:30:05+0200",
        "com.apple.quicktime.location.ISO6709": "-33.8568+151.2153+005.000/",
        "com.apple.quicktime.make": "Apple", "com.apple.quicktime.model": "iPhone 13 Pro",
    })
    p = ingest_file(clip, settings).photo
    assert (p.mime, p.original_filename) == ("video/quicktime", "IMG_0042.MOV")
    assert (p.taken_at, p.taken_offset, p.date_source) == (
        dt.datetime(2024, 7, 14, 18, 30, 5), "+02:00", "quicktime:CreationDate")
    assert (round(p.gps_lat, 4), round(p.gps_lon, 4)) == (-33.8568, 151.2153)
    assert (p.camera_make, p.camera_model) == ("Apple", "iPhone 13 Pro")
    assert thumb_path(settings, p, 1280).is_file()


def _encodes(codec: str) -> bool:
    import av

    try:
        av.codec.Codec(codec, "w")
        return True
    except Exception:  # noqa: BLE001
        return False


def test_truncated_video_is_refused_with_the_reason(settings, tmp_path):
    whole = make_video(tmp_path / "whole.mp4", seconds=2)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(errors.CorruptImage, match="truncated"):
        ingest_file(cut, settings)
    assert Photo.select().count() == 0
    assert list(settings.inbox.rglob("*.*")) == [] and _leftovers(settings) == []


@pytest.mark.parametrize("content", [b"just some notes, not a film\n" * 50, b"\x00" * 4096])
def test_a_non_video_named_mp4_is_refused_with_the_reason(settings, tmp_path, content):
    fake = tmp_path / "holiday.mp4"
    fake.write_bytes(content)
    with pytest.raises(errors.UnsupportedImage, match="holiday.mp4 is not a video"):
        ingest_file(fake, settings)
    assert Photo.select().count() == 0 and _leftovers(settings) == []


def test_damaged_video_header_is_refused(settings, tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    with pytest.raises(errors.CorruptImage, match="video"):
        ingest_file(clip, settings)
    assert _leftovers(settings) == []


def test_keyframes_are_upright_and_spread(tmp_path):
    clip = make_video(tmp_path / "k.mp4", size=(96, 160), rotation=270, seconds=3)
    frames = video.keyframes(clip, 3, max_side=64)
    assert len(frames) == 3
    assert all(f.size[1] > f.size[0] for f in frames)  # portrait, as filmed
    assert len({f.getpixel((f.size[0] // 2, f.size[1] // 2)) for f in frames}) == 3  # different moments


def test_live_photo_pair_is_one_item_and_files_together(settings, tmp_path):
    make_video(tmp_path / "IMG_0007.MOV", seconds=1.5, content_id="4F1E-LIVE",
               quicktime={"com.apple.quicktime.creationdate": "2024-07-14T18:30:05+0200"})
    live_still(tmp_path / "IMG_0007.JPG", "4F1E-LIVE")
    make_video(tmp_path / "other.mp4", seconds=1)  # an ordinary video beside it stays on its own
    summary = ingest_paths([tmp_path], settings, workers=1)
    assert len(summary.imported) == 3
    still = Photo.get(Photo.media == "photo")
    motion = Photo.get(Photo.original_filename == "IMG_0007.MOV")
    assert motion.live_of_id == still.id and live.motion_of(still) == motion
    queue, _, total = library.review_queue(10)
    assert {p.original_filename for p in queue} == {"IMG_0007.JPG", "other.mp4"} and total == 2

    library.file_photo(still, "Trips/Paris", settings, action="accept")
    for p in (still, motion):
        p = Photo.get_by_id(p.id)
        assert (p.root, p.status, p.folder) == ("library", "filed", "Trips/Paris")
    assert sorted(f.name for f in (settings.library / "Trips" / "Paris").iterdir()) == [
        "IMG_0007.JPG", "IMG_0007.MOV"]
    library.undo(settings, Decision.get(Decision.photo == still))
    assert {Photo.get_by_id(i).root for i in (still.id, motion.id)} == {"inbox"}


def test_live_photo_pairs_whichever_half_arrives_first(settings, tmp_path):
    still_file = live_still(tmp_path / "IMG_0008.JPG", "ID-8")
    motion_file = make_video(tmp_path / "IMG_0008.MOV", content_id="ID-8", seconds=1)
    still = ingest_file(still_file, settings).photo
    motion = ingest_file(motion_file, settings).photo
    assert Photo.get_by_id(motion.id).live_of_id == still.id


def test_a_live_photo_goes_to_the_trash_and_back_whole(settings, tmp_path):
    from jaicat.photos import trash

    still = ingest_file(live_still(tmp_path / "IMG_9.JPG", "ID-9"), settings).photo
    motion = ingest_file(make_video(tmp_path / "IMG_9.MOV", content_id="ID-9", seconds=1), settings).photo
    trash.trash_photo(still, settings)
    assert all(Photo.get_by_id(i).trashed_at is not None for i in (still.id, motion.id))
    assert [p.id for p in trash.trashed(10)[0]] == [still.id]  # one item in the trash too
    trash.restore_photo(still, settings)
    for i in (still.id, motion.id):
        p = Photo.get_by_id(i)
        assert p.trashed_at is None and (settings.inbox / p.path).is_file()
    trash.trash_photo(still, settings)
    assert trash.empty_trash(settings, photo_ids=[still.id]) == 2
    assert Photo.select().count() == 0
