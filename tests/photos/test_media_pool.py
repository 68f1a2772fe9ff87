"""Ingest's decoding in worker processes: the same photo as in this thread, and a worker that dies
fails one file, not the import."""

from __future__ import annotations

import os
import platform
import resource
import shutil
from pathlib import Path

import pytest

from jaicat.db import Photo
from jaicat.errors import CorruptImage
from jaicat.photos.ingest import describe_file, ingest_paths
from PIL import Image

from jaicat.photos.media_pool import MediaPool

MEDIA = Path(__file__).resolve().parents[1] / "media"


def _die(tmp, filename, settings, sha):
    os._exit(3)  # a decoder crash takes its process with it


def _faults_of_a_second_photo(tmp, filename, settings, sha):
    """Page faults while a worker makes and drops a 12 MP image, after one before it."""
    Image.new("RGB", (4000, 3000), (10, 20, 30)).load()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    Image.new("RGB", (4000, 3000), (30, 20, 10)).load()
    return {"faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}, ""


def _photos(n: int) -> list[Path]:
    found = sorted(p for p in (MEDIA / "faces").rglob("*.jpg"))[:n]
    assert len(found) == n, "tests/media/faces holds the small real set"
    return found


def test_a_worker_process_describes_a_photo_as_this_thread_does(settings, tmp_path):
    photo = _photos(1)[0]
    copy = tmp_path / "one.part"
    shutil.copy(photo, copy)
    here = describe_file(copy, photo.name, settings, "a" * 64)
    with MediaPool(describe_file, 2) as pool:
        there = pool.describe(copy, photo.name, settings, "b" * 64)
    assert there == here
    for size in settings.thumb_sizes:
        assert (settings.thumbs / str(size) / "bb" / f"{'b' * 64}.jpg").is_file()


def test_a_dead_worker_fails_its_file_and_the_pool_starts_again(settings, tmp_path):
    copy = tmp_path / "one.part"
    shutil.copy(_photos(1)[0], copy)
    with MediaPool(_die, 2) as pool:
        with pytest.raises(CorruptImage):
            pool.describe(copy, "one.jpg", settings, "c" * 64)
        with pytest.raises(CorruptImage):  # a fresh pool answers the next file
            pool.describe(copy, "one.jpg", settings, "c" * 64)


def test_an_import_on_two_workers_catalogues_what_one_worker_does(settings, tmp_path):
    src = tmp_path / "camera"
    src.mkdir()
    for p in _photos(4):
        shutil.copy(p, src / p.name)
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    summary = ingest_paths([src], settings, workers=2)
    assert len(summary.imported) == 4 and [Path(p).name for p, _ in summary.rejected] == ["broken.jpg"]
    rows = {p.original_filename: (p.width, p.height, p.phash, p.taken_at) for p in Photo.select()}
    assert sorted(rows) == sorted(p.name for p in _photos(4))
    assert all(w and h and ph for w, h, ph, _ in rows.values())


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the workers' memory setting is glibc's")
def test_a_worker_keeps_the_memory_it_decodes_into(settings, tmp_path):
    """A second photo reuses the first one's freed pixel memory: a 12 MP image is ~9,000 pages, that
    the default allocator gave back to the system and faulted in again for every photo."""
    with MediaPool(_faults_of_a_second_photo, 2) as pool:
        fields, _ = pool.describe(tmp_path / "none", "x.jpg", settings, "d" * 64)
    assert fields["faults"] < 500, fields
