"""Faces fixtures: the real dlib models on the real media faces, each photo detected and encoded once.

`cached_detection` makes `jaicat.ml.faces.detect_faces` remember its results by image content for the
whole session, so enrolling, analysing and the pure tests share one dlib pass per photo (dlib on two
CPU cores takes ~0.15 s a face). The first call for each image still runs the real models.
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import numpy as np
import pytest

from jaicat.imaging import open_image, open_upright, orientation_of
from jaicat.ml import faces as faces_ml

# Tests detect on a copy at most this long (the default 1600 finds the same faces here, slower).
TEST_FACE_MAX_SIDE = 1024
_real_detect = faces_ml.detect_faces
_cache: dict[tuple, list] = {}
_counter = itertools.count(1)


def memo_detect(image, model="hog", max_side=1600, num_jitters=1, models=None):
    arr = np.ascontiguousarray(image)
    key = (hashlib.sha1(arr.tobytes()).hexdigest(), arr.shape, model, max_side, num_jitters)
    if key not in _cache:
        _cache[key] = _real_detect(arr, model=model, max_side=max_side, num_jitters=num_jitters, models=models)
    return _cache[key]


def load_face_image(path: Path):
    """A media photo decoded as enroll_folder decodes it (so cached detections are shared)."""
    return open_upright(path, max_side=faces_ml.ENCODE_MAX_SIDE)


@pytest.fixture(scope="session")
def face_media(media_dir) -> dict[str, list[Path]]:
    """Person folder name -> that person's photos, sorted (16 photos of 6 people + 62 of 10 more)."""
    out = {}
    for d in sorted((media_dir / "faces").iterdir()):
        if d.is_dir():
            out[d.name] = sorted((f for f in d.iterdir() if f.is_file()), key=lambda f: f.name)
    return out


@pytest.fixture(scope="session")
def media_faces(face_media, media_dir) -> dict[Path, list]:
    """Every media face photo (and group photo) -> its DetectedFaces, computed once per session."""
    out = {}
    files = [f for fs in face_media.values() for f in fs] + sorted((media_dir / "faces_groups").iterdir())
    for f in files:
        out[f] = memo_detect(np.asarray(load_face_image(f)), "hog", TEST_FACE_MAX_SIDE)
    return out


@pytest.fixture
def cached_detection(monkeypatch, media_faces):
    monkeypatch.setattr(faces_ml, "detect_faces", memo_detect)


@pytest.fixture
def face_settings(settings):
    settings.face_max_side = TEST_FACE_MAX_SIDE
    return settings


@pytest.fixture
def make_photo(face_settings):
    """Create a catalogue Photo row for a file (no copy, no thumbnails: people.py needs only the row)."""
    from jaicat.db import Photo

    def make(path: Path, **fields) -> Photo:
        n = next(_counter)
        im = open_image(path)
        width, height = im.size if orientation_of(im) < 5 else im.size[::-1]
        im.close()
        return Photo.create(
            sha256=hashlib.sha256(f"{path}:{n}".encode()).hexdigest(), phash="0" * 16,
            original_filename=path.name, size=1, mime="image/jpeg", width=width, height=height,
            path=fields.pop("rel", path.name), **fields,
        )

    return make
