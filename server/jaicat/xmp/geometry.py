"""Boxes between the upright image (what Jaicat stores) and the stored pixels (what MWG/MP regions use).

Jaicat keeps faces and regions as top-left x, y, w, h normalised on the upright (EXIF-applied) image.
XMP regions describe the image as stored in the file, before the EXIF orientation (or a HEIC's
irot/imir) is applied, so a sidecar written for an orientation-6 phone photo has its boxes on the
sideways sensor image (docs/REGIONS.md).
"""

from __future__ import annotations

# stored normalised point (u, v) -> upright normalised point, for each EXIF orientation (1-8).
# Matches PIL.ImageOps.exif_transpose: 2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 CW,
# 7 transverse, 8 rotate 90 CCW.
_TO_UPRIGHT = {
    1: lambda u, v: (u, v),
    2: lambda u, v: (1 - u, v),
    3: lambda u, v: (1 - u, 1 - v),
    4: lambda u, v: (u, 1 - v),
    5: lambda u, v: (v, u),
    6: lambda u, v: (1 - v, u),
    7: lambda u, v: (1 - v, 1 - u),
    8: lambda u, v: (v, 1 - u),
}
# the inverse maps: every orientation is its own inverse except 6 and 8, which undo each other
_INVERSE = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}


def _valid(orientation: int | None) -> int:
    return orientation if orientation in _TO_UPRIGHT else 1


def swaps_axes(orientation: int | None) -> bool:
    """Orientations 5-8 turn the image a quarter: stored width is the upright height."""
    return _valid(orientation) >= 5


def stored_dims(upright_w: int, upright_h: int, orientation: int | None) -> tuple[int, int]:
    """Pixel dimensions of the stored image, from the upright dimensions Jaicat records."""
    return (upright_h, upright_w) if swaps_axes(orientation) else (upright_w, upright_h)


def _map_box(box, fn):
    x, y, w, h = box
    (ax, ay), (bx, by) = fn(x, y), fn(x + w, y + h)
    return _clamp((min(ax, bx), min(ay, by), abs(bx - ax), abs(by - ay)))


def _clamp(box):
    x, y, w, h = (max(0.0, min(1.0, float(v))) for v in box)
    return (x, y, min(w, 1.0 - x), min(h, 1.0 - y))


def upright_to_stored(box, orientation: int | None):
    """Top-left normalised box on the upright image -> the same pixels on the stored image."""
    return _map_box(box, _TO_UPRIGHT[_INVERSE[_valid(orientation)]])


def stored_to_upright(box, orientation: int | None):
    """Top-left normalised box on the stored image -> the same pixels on the upright image."""
    return _map_box(box, _TO_UPRIGHT[_valid(orientation)])


def centre_to_topleft(cx: float, cy: float, w: float, h: float):
    """MWG stArea gives the centre of the box; Jaicat and MP use the top-left corner."""
    return (cx - w / 2, cy - h / 2, w, h)


def topleft_to_centre(x: float, y: float, w: float, h: float):
    return (x + w / 2, y + h / 2, w, h)
