"""One region convention for every format (docs/REGIONS.md): sidecar boxes are on the image as stored
in the file, before EXIF Orientation (JPEG) or irot/imir (HEIC/AVIF), which decoders apply on display.
A box drawn on the upright photo must cover the same pixels of the stored image after writing, and
land on the same upright box after reading back."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from pillow_heif import open_heif
from pillow_heif.as_plugin import HeifImageFile

from jaicat import xmp
from jaicat.db import Photo, Region
from jaicat.photos import imaging
from jaicat.photos.ingest import ingest_file

# boxes (top-left x, y, w, h, normalised on the upright photo) over different parts of a picture
BOXES = {"left top": (0.05, 0.1, 0.2, 0.15), "centre": (0.4, 0.45, 0.25, 0.1), "right low": (0.7, 0.75, 0.2, 0.2)}
# how to turn the stored image upright, per EXIF orientation (what decode_upright does)
TRANSPOSE = imaging._TRANSPOSE


def crop(im: Image.Image, box) -> np.ndarray:
    x, y, w, h = box
    W, H = im.size
    return np.asarray(im.convert("RGB").crop(
        (round(x * W), round(y * H), round((x + w) * W), round((y + h) * H))), dtype=np.float32)


def upright_of(stored: Image.Image, orientation: int) -> Image.Image:
    method = TRANSPOSE.get(orientation)
    return stored.transpose(method) if method is not None else stored


def check_round_trip(settings, photo: Photo, stored: Image.Image, orientation: int) -> None:
    """Regions on the upright photo -> sidecar -> the same pixels on `stored` -> the same upright boxes."""
    upright = upright_of(stored, orientation)
    assert upright.size == (photo.width, photo.height)
    for label, box in BOXES.items():
        Region.create(photo=photo, x=box[0], y=box[1], w=box[2], h=box[3], label=label)
    data = xmp.read_sidecar(xmp.write_photo_sidecar(photo, settings))
    assert data["dims"] == stored.size, "AppliedToDimensions is the stored image's size"
    by_name = {r["name"]: r for r in data["regions"]}
    for label, box in BOXES.items():
        r = by_name[label]
        on_stored = upright_of(Image.fromarray(crop(stored, (r["x"], r["y"], r["w"], r["h"])).astype(np.uint8)),
                               orientation)
        want = crop(upright, box)
        got = np.asarray(on_stored, dtype=np.float32)
        assert got.shape == want.shape or abs(got.shape[0] - want.shape[0]) <= 1
        h, w = min(got.shape[0], want.shape[0]), min(got.shape[1], want.shape[1])
        diff = float(np.abs(got[:h, :w] - want[:h, :w]).mean())
        assert diff < 6, f"{label}: the sidecar box covers other pixels (mean difference {diff:.1f})"
    Region.delete().execute()
    assert xmp.apply_xmp_to_photo(photo, settings)["regions"] == len(BOXES)
    for label, box in BOXES.items():
        row = Region.get(Region.label == label)
        assert (row.x, row.y, row.w, row.h) == pytest.approx(box, abs=1e-4)


@pytest.mark.parametrize("name", [f"{kind}_{o}" for kind in ("Landscape", "Portrait") for o in range(0, 9)])
def test_real_orientation_set(settings, full_media_dir, name):
    """The recurser EXIF orientation photos (0 is an invalid tag value, read as 1)."""
    src = full_media_dir / "exif_real" / f"{name}.jpg"
    photo = ingest_file(src, settings).photo
    orientation = int(name.rsplit("_", 1)[1]) or 1
    assert photo.orientation == orientation
    with Image.open(src) as im:  # no exif_transpose: the pixels exactly as the file stores them
        check_round_trip(settings, photo, im.copy(), orientation)


def test_rotated_heic_regions_are_on_the_coded_image(settings, media_dir):
    """An iPhone portrait HEIC: landscape sensor image, irot 270 (a quarter turn clockwise), EXIF Orientation 6.
    libheif hands Jaicat upright pixels; the sidecar still describes the stored landscape image, as it
    does for a JPEG with Orientation 6, so exiftool-based readers turn both the same way."""
    src = media_dir / "heic_real" / "pillowheif_arrow.heic"
    photo = ingest_file(src, settings).photo
    assert (photo.width, photo.height, photo.orientation) == (3024, 4032, 6)
    with Image.open(src) as im:
        assert im.info["original_orientation"] == 6, "the file's EXIF Orientation agrees with its irot"
        upright = im.convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # undo a quarter turn clockwise: the coded image
    assert stored.size == (4032, 3024)
    check_round_trip(settings, photo, stored, 6)


def test_heic_catalogued_before_irot_was_recorded_is_settled_on_write(settings, add_photo, media_dir):
    src = media_dir / "heic_real" / "pillowheif_arrow.heic"
    photo = add_photo(settings, src, rel="heic/arrow.heic")  # a row as older Jaicat left it: orientation 1
    assert photo.orientation == 1 and (photo.width, photo.height) == (3024, 4032)
    Region.create(photo=photo, x=0.1, y=0.2, w=0.3, h=0.1, label="box")
    data = xmp.read_sidecar(xmp.write_photo_sidecar(photo, settings))
    assert Photo.get_by_id(photo.id).orientation == 6
    assert data["dims"] == (4032, 3024)
    (r,) = data["regions"]
    assert (r["x"], r["y"], r["w"], r["h"]) == pytest.approx((0.2, 0.6, 0.1, 0.3), abs=1e-4)


@pytest.mark.parametrize("rot", range(4))
@pytest.mark.parametrize("mir", range(2))
def test_heif_irot_imir_read_as_libavif_reads_them(media_dir, rot, mir):
    """The orientation read from a HEIF's irot/imir list agrees with Pillow's AVIF plugin (libavif) on
    the same real files, for every rotation and mirror."""
    path = media_dir / "heic_real" / f"pillow_rot{rot}mir{mir}.avif"
    with Image.open(path) as im:
        assert im.format == "AVIF"
        expected = im.getexif().get(0x0112, 1)
    assert open_heif(path)[0].info is not None
    im = HeifImageFile(path)  # headers only: the AV1 pixels are never decoded here
    assert imaging.stored_orientation(im) == expected


def test_upright_heic_has_orientation_one(settings, media_dir):
    photo = ingest_file(media_dir / "heic_real" / "pillowheif_zPug_3.heic", settings).photo
    assert photo.orientation == 1
