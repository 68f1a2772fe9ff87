"""Helpers for the ops tests (the `settings` and `media_dir` fixtures come from tests/conftest.py)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageOps
from pillow_heif import register_heif_opener

from jaicat.db import Photo

register_heif_opener()


def _add_photo(settings, src: Path, root: str = "library", rel: str | None = None) -> Photo:
    """Put a copy of `src` under the given root and catalogue it, as ingest and filing would leave it.

    Built directly (not through ingest) so these tests pin only what XMP and backup rely on: the
    row's root/path, upright width/height and the stored file's EXIF orientation.
    """
    rel = rel or src.name
    dest = settings.root_path(root) / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    data = dest.read_bytes()
    with Image.open(dest) as im:
        orientation = im.getexif().get(0x0112, 1)
        w, h = ImageOps.exif_transpose(im).size if orientation != 1 else im.size
        mime = Image.MIME.get(im.format, "image/jpeg")
    return Photo.create(
        sha256=hashlib.sha256(data).hexdigest(), phash="0" * 16, original_filename=src.name,
        size=len(data), mime=mime, width=w, height=h, orientation=orientation,
        status="filed" if root == "library" else "inbox", root=root, path=rel,
    )


@pytest.fixture
def add_photo():
    """`add_photo(settings, src, root="library", rel=None) -> Photo`"""
    return _add_photo
