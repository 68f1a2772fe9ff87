"""Ingest: every valid photo comes in upright and deduplicated; every bad file is refused cleanly."""

from __future__ import annotations

import datetime as dt
import io
import shutil

import pytest
from PIL import Image

from jaicat import errors
from jaicat.db import Photo
import jaicat.photos.ingest as ingest_module
from jaicat.photos.ingest import ingest_file, ingest_paths, ingest_stream, thumb_path


def _leftovers(settings):
    """Files in the inbox and the temp dir (nothing half-written may remain)."""
    return sorted(p for p in settings.tmp.rglob("*") if p.is_file())


def test_every_valid_photo_imported_and_second_run_adds_nothing(settings, full_media_dir):
    first = ingest_paths([full_media_dir], settings)
    bad = {p.split("/")[-1] for p, _ in first.rejected}
    assert bad == {"zero_bytes.jpg", "truncated.jpg", "not_an_image.jpg", "corrupt.heic",
                   "decompression_bomb.png"}
    assert len(first.imported) >= 130
    assert Photo.select().count() == len(first.imported)
    # every catalogued file is in the inbox with both thumbnails
    for p in Photo.select():
        assert (settings.inbox / p.path).is_file()
        for size in settings.thumb_sizes:
            with Image.open(thumb_path(settings, p, size)) as t:
                assert max(t.size) <= size
    second = ingest_paths([full_media_dir], settings)
    assert second.imported == []
    assert len(second.duplicates) == len(first.imported) + len(first.duplicates)
    assert _leftovers(settings) == []


@pytest.mark.parametrize("name,error", [
    ("zero_bytes.jpg", errors.EmptyFile),
    ("truncated.jpg", errors.CorruptImage),
    ("not_an_image.jpg", errors.UnsupportedImage),
    ("corrupt.heic", errors.IngestError),
    ("decompression_bomb.png", errors.ImageTooLarge),
])
def test_bad_input_is_refused_with_a_reason_and_leaves_nothing(settings, media_dir, name, error):
    with pytest.raises(error) as info:
        ingest_file(media_dir / "bad" / name, settings)
    assert info.value.message
    assert Photo.select().count() == 0
    assert list(settings.inbox.rglob("*.*")) == []
    assert _leftovers(settings) == []


def test_oversize_is_refused(settings, tmp_path):
    settings.max_upload_bytes = 10
    with pytest.raises(errors.FileTooLarge):
        ingest_stream(io.BytesIO(b"x" * 100), "big.jpg", settings)
    assert _leftovers(settings) == []


@pytest.mark.parametrize("orientation", range(1, 9))
def test_thumbnails_are_upright_and_exif_is_read(settings, media_dir, orientation):
    photo = ingest_file(media_dir / "exif" / f"orientation_{orientation}.jpg", settings).photo
    assert photo.orientation == orientation
    assert photo.taken_at == dt.datetime(2024, 7, 14, 18, 30, 5)
    assert (photo.camera_make, photo.camera_model) == ("Jaicat", "TestCam 1")
    assert photo.gps_lat == pytest.approx(48.858, abs=0.001)
    assert photo.gps_lon == pytest.approx(2.2944, abs=0.001)
    with Image.open(thumb_path(settings, photo, 256)) as t:
        t = t.convert("RGB")
        w, h = t.size
        r, g, b = t.getpixel((w // 2, 2))  # red band along the top edge
        assert r > 150 and g < 100 and b < 100, (orientation, (r, g, b))
        r, g, b = t.getpixel((2, h // 2))  # blue band along the left edge
        assert b > 150 and r < 100, (orientation, (r, g, b))
    assert (photo.width > photo.height) == (w > h)


def test_exact_duplicates_are_stored_once(settings, media_dir):
    src = media_dir / "exif" / "orientation_1.jpg"
    a = ingest_file(src, settings)
    b = ingest_stream(io.BytesIO(src.read_bytes()), "copy-from-phone.jpg", settings)
    assert not a.duplicate and b.duplicate
    assert b.photo.id == a.photo.id
    assert len([p for p in settings.inbox.rglob("*") if p.is_file()]) == 1


def test_content_decides_the_format_not_the_extension(settings, media_dir):
    photo = ingest_file(media_dir / "exif" / "jpeg_named.png", settings).photo
    assert photo.mime == "image/jpeg"
    assert photo.original_filename == "jpeg_named.jpg"
    assert photo.path.endswith(".jpg")


def test_heic_is_decoded(settings, media_dir):
    photo = ingest_file(media_dir / "heic" / "upright.heic", settings).photo
    assert photo.mime == "image/heic"
    assert (photo.width, photo.height) == (640, 480)


@pytest.mark.slow
def test_200_megapixel_phone_photo_is_still_ingested(settings, full_media_dir):
    photo = ingest_file(full_media_dir / "heic_real" / "pillowheif_200MP.heic", settings).photo
    assert photo.width * photo.height > 150_000_000


def test_user_files_are_never_touched_by_import(settings, media_dir, tmp_path):
    src = tmp_path / "mine.jpg"
    shutil.copy(media_dir / "exif" / "orientation_6.jpg", src)
    before = src.read_bytes()
    ingest_paths([tmp_path / "mine.jpg"], settings)
    assert src.read_bytes() == before


@pytest.mark.parametrize("kind", ["Landscape", "Portrait"])
def test_real_camera_orientations_all_come_out_upright(settings, full_media_dir, kind):
    """recurser/exif-orientation-examples: one scene stored under every EXIF orientation (0 = invalid
    tag, treated as upright). Upright thumbnails of all of them must look alike."""
    from jaicat.photos.imaging import hamming

    photos = [ingest_file(full_media_dir / "exif_real" / f"{kind}_{i}.jpg", settings).photo for i in range(9)]
    ref = photos[1]
    for p in photos:
        assert (p.width, p.height) == (ref.width, ref.height), p.original_filename
        assert hamming(p.phash, ref.phash) <= 8, (p.original_filename, hamming(p.phash, ref.phash))


def test_a_second_import_reads_only_new_or_changed_files(settings, tmp_path, monkeypatch):
    """An interrupted import of a big tree is resumed by importing it again: what was imported is
    passed over without reading it (same size and modification time), the rest is read."""
    tree = tmp_path / "Pictures"
    tree.mkdir()
    files = [tree / f"IMG_{i}.jpg" for i in range(6)]
    for i, f in enumerate(files):
        Image.new("RGB", (64, 48), (40 * i, 90, 160)).save(f, "JPEG")
    first = ingest_paths(files[:3], settings, workers=1)  # the import that was interrupted
    assert len(first.imported) + len(first.duplicates) == 3

    read = []
    real = ingest_module.ingest_file
    monkeypatch.setattr(ingest_module, "ingest_file", lambda path, *a, **k: read.append(path.name) or real(path, *a, **k))
    resumed = ingest_paths(files, settings, workers=1)
    assert sorted(read) == sorted(f.name for f in files[3:])  # the first three were not read again
    assert {pid for _, pid in resumed.duplicates} >= set(first.imported)

    read.clear()
    files[0].write_bytes(files[0].read_bytes())  # the same bytes written again: a new mtime
    again = ingest_paths(files, settings, workers=1)
    assert read == [files[0].name] and again.imported == []

    # a photo deleted for good since (its row gone) is imported again, as on a first import
    Photo.delete().where(Photo.id == first.imported[0]).execute()
    read.clear()
    ingest_paths(files, settings, workers=1)
    assert len(read) == 1
