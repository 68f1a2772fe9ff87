"""Shared fixtures: real test media, a fresh data dir with an open catalogue per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Fixture modules shared by every package of tests (tests/ is on sys.path: this conftest is its root).
pytest_plugins = ["fixtures.app", "fixtures.faces", "fixtures.library", "fixtures.models"]

ROOT = Path(__file__).resolve().parents[1]
# The small real set kept in the repository (see tests/media/SOURCES.md): the core suite runs on it alone.
MEDIA = ROOT / "tests" / "media"
# The larger set (every face, real phone HEICs up to 200 MP, EXIF orientation photos) lives beside the clone.
FULL_MEDIA = Path(os.environ.get("JAICAT_TEST_MEDIA", ROOT.parent / "shared" / "media")).resolve()


@pytest.fixture(scope="session")
def media_dir() -> Path:
    """tests/media: a few faces of four people, group photos, EXIF orientations, HEIC, malformed files."""
    return MEDIA


@pytest.fixture(scope="session")
def full_media_dir() -> Path:
    """The larger test media (../shared/media, or $JAICAT_TEST_MEDIA); tests that need it skip without it."""
    if not FULL_MEDIA.is_dir():
        pytest.skip(f"larger test media not found at {FULL_MEDIA} (set JAICAT_TEST_MEDIA); "
                    "see tests/media/SOURCES.md")
    return FULL_MEDIA


@pytest.fixture
def settings(tmp_path):
    """Settings for a fresh data dir under tmp_path, catalogue opened; no models, no zeroconf."""
    from jaicat.config import load_settings
    from jaicat.db import database, open_db

    s = load_settings(data_dir=tmp_path / "data", env={}, zeroconf=False, worker=False)
    s.ensure_dirs()
    open_db(s.db_path)
    yield s
    if not database.is_closed():
        database.close()


# The thorough face pass re-detects every analysed photo at full resolution (seconds a photo on a
# CPU): the suite runs it only where a test asks for it (tests/people/test_passes.py, test_detect.py).
os.environ.setdefault("JAICAT_FACE_THOROUGH", "0")
# Loading every model as each test's worker starts costs seconds a server; the models load with the
# first photo instead (tests/pipeline/test_worker.py checks the warm start itself).
os.environ.setdefault("JAICAT_WARM_MODELS", "0")
