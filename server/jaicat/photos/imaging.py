"""Decoding photos: formats, EXIF facts, upright (orientation-applied) images, perceptual hash.

Pillow decodes JPEG/PNG/WebP/AVIF/GIF/TIFF; pillow-heif adds HEIC/HEIF. JPEGs use the decoder's
reduced-size decode (`draft`) when only a smaller image is needed, which is several times faster.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageCms

from ..errors import CorruptImage, ImageTooLarge, UnsupportedImage
from . import metadata, video
from .decode_budget import BUDGET
from .video import VIDEO_EXTENSIONS  # noqa: F401 - the import walkers' list of video names

log = logging.getLogger(__name__)

_heif_lock = threading.Lock()
_heif_registered = False

# Pillow format name -> (mime type, canonical extension)
FORMATS = {
    "JPEG": ("image/jpeg", ".jpg"),
    "MPO": ("image/jpeg", ".jpg"),  # multi-picture JPEG (many phones)
    "PNG": ("image/png", ".png"),
    "HEIF": ("image/heic", ".heic"),
    "AVIF": ("image/avif", ".avif"),
    "WEBP": ("image/webp", ".webp"),
    "GIF": ("image/gif", ".gif"),
    "TIFF": ("image/tiff", ".tif"),
    "BMP": ("image/bmp", ".bmp"),
}

_TAG_ORIENTATION = 0x0112
_TAG_MAKE = 0x010F
_TAG_MODEL = 0x0110
_IFD_GPS = 0x8825


def register_formats() -> None:
    """Teach Pillow HEIC/HEIF (idempotent; AVIF is native in Pillow >= 11.3) and hand the pixel limit
    to Jaicat: open_image enforces settings.max_pixels with a clear message, so Pillow's own global
    limit (which rejects real 200 MP phone photos) is switched off once here, never per call, where
    threads would race to restore it."""
    global _heif_registered
    with _heif_lock:
        if not _heif_registered:
            from pillow_heif import register_heif_opener

            register_heif_opener()
            Image.MAX_IMAGE_PIXELS = None
            _heif_registered = True


@dataclass
class PhotoFacts:
    format: str
    mime: str
    ext: str
    width: int  # upright
    height: int
    orientation: int  # turns the stored image upright (stored_orientation); width/height are upright
    taken_at: dt.datetime | None
    camera_make: str | None
    camera_model: str | None
    gps_lat: float | None
    gps_lon: float | None
    taken_offset: str | None = None  # "+02:00" when the file says it
    date_source: str | None = None  # where taken_at came from (photos.metadata)
    description: str | None = None  # the photographer's own words
    content_id: str | None = None  # Live Photo content identifier (Apple maker note)


def open_image(path: str | Path | BinaryIO, max_pixels: int | None = None) -> Image.Image:
    """Open (lazily) and check format and pixel count; raises UnsupportedImage / ImageTooLarge.

    `path` may also be an open binary file (a photo's bytes sent to an analysis worker)."""
    register_formats()
    if not hasattr(path, "read"):
        path = Path(path)
        if video.sniff(path) is not None:
            raise UnsupportedImage("this is a video, not a photo")
    try:
        im = Image.open(path)
    except (Image.UnidentifiedImageError, ValueError):
        raise UnsupportedImage("not an image Jaicat can read (unknown or damaged format)") from None
    except (OSError, SyntaxError) as e:
        raise CorruptImage(f"cannot decode ({e})") from None
    if im.format not in FORMATS:
        fmt = im.format
        im.close()
        raise UnsupportedImage(f"unsupported image format {fmt}")
    w, h = im.size
    if max_pixels and w * h > max_pixels:
        im.close()
        raise ImageTooLarge(
            f"this photo has {w * h / 1e6:.0f} megapixels ({w}x{h}), more than the {max_pixels / 1e6:.0f} "
            f"this server opens; send a smaller version, or raise the limit on the server "
            f"(max_pixels in jaicat.toml)"
        )
    if max_pixels and decode_bytes(im) > max_pixels * 4:
        cost = decode_bytes(im)
        im.close()
        raise ImageTooLarge(
            f"{w}x{h} {im.mode} needs about {cost / 2**30:.1f} GiB to decode, above the "
            f"{max_pixels * 4 / 2**30:.1f} GiB an 8-bit photo at the pixel limit may use (setting max_pixels)"
        )
    if w <= 0 or h <= 0:
        im.close()
        raise CorruptImage("empty image")
    return im


# Peak bytes per pixel while decoding to upright RGB, by the mode Pillow decodes into: the decoded
# image plus what _to_rgb makes from it (Pillow keeps RGB/RGBA/CMYK in 4 bytes a pixel; 16-bit goes
# through a uint16 copy and an 8-bit one, converted in strips; alpha through an RGBA copy, a white
# background and the alpha band).
_DECODE_BYTES_PER_PIXEL = {"1": 1 + 4, "L": 1 + 4, "P": 1 + 4, "RGB": 4, "YCbCr": 4 + 4, "CMYK": 4 + 4,
                           "LAB": 4 + 4, "HSV": 4 + 4, "RGBA": 4 + 4 + 4 + 1, "LA": 4 + 4 + 4 + 1,
                           "PA": 4 + 4 + 4 + 1, "I": 4 + 4 + 1 + 4, "F": 4 + 4 + 1 + 4}


def decode_bytes(im: Image.Image) -> int:
    """About the most memory decoding `im` to upright RGB takes, in bytes: pixels times the bytes per
    pixel of its mode's path (a 16-bit image costs ~4x an 8-bit one, alpha ~3x). JPEG's reduced-size
    decode can use less; this is the full-size figure."""
    w, h = im.size
    mode = im.mode
    per_pixel = 2 + 2 + 1 + 4 if mode.startswith("I;16") else _DECODE_BYTES_PER_PIXEL.get(mode, 8)
    return w * h * per_pixel


def exif_of(im: Image.Image) -> Image.Exif:
    """The image's EXIF without decoding its pixels: Pillow's PNG reader loads the whole image to look
    for an eXIf chunk after the pixel data, which put a 16-bit 8000 x 8000 PNG's 128 MB outside the
    decode budget before the decode began. A PNG's EXIF before its pixels (where writers put it) is read."""
    if im.format == "PNG" and "exif" not in im.info:
        return Image.Exif()
    return im.getexif()


def orientation_of(im: Image.Image) -> int:
    try:
        o = int(exif_of(im).get(_TAG_ORIENTATION, 1) or 1)
    except Exception:
        return 1
    return o if 1 <= o <= 8 else 1


_PROBE = np.arange(6, dtype=np.uint8).reshape(2, 3)  # a tiny image with no symmetry


def _heif_orientation(im: Image.Image) -> int:
    """The EXIF orientation equivalent to the irot/imir transforms libheif applied while decoding.

    irot turns anticlockwise by its angle; imir axis 0 flips top-bottom, axis 1 left-right (what
    libavif, and so Pillow's AVIF plugin, reads the same files as). Without the transform list (an older
    pillow-heif), the file's EXIF Orientation, which pillow-heif keeps as `original_orientation`, stands in:
    phones write it equal to irot/imir."""
    try:
        transforms = im._heif_file[im.tell()]._c_image.transformations  # noqa: SLF001 - not public API
    except (AttributeError, IndexError, TypeError):
        o = im.info.get("original_orientation")
        return o if isinstance(o, int) and 1 <= o <= 8 else 1
    out = _PROBE
    for t in transforms:  # ("irot", degrees), ("imir", axis), ("clap", x, y, w, h): a crop turns nothing
        if len(t) != 2 or t[0] not in ("irot", "imir"):
            continue
        if t[0] == "irot":
            out = np.rot90(out, int(t[1]) // 90)
        else:
            out = out[::-1, :] if int(t[1]) == 0 else out[:, ::-1]
    for orientation in range(1, 9):  # the orientation whose transpose (decode_upright's) does the same
        method = _TRANSPOSE.get(orientation)
        arr = np.asarray(Image.fromarray(_PROBE).transpose(method)) if method is not None else _PROBE
        if arr.shape == out.shape and (arr == out).all():
            return orientation
    return 1


def stored_orientation(im: Image.Image) -> int:
    """The EXIF orientation (1-8) that turns the image as stored in the file into the upright one.

    JPEG, TIFF, PNG, WebP: the EXIF Orientation tag; AVIF: Pillow reports irot/imir as that tag and
    leaves the pixels as stored. HEIC/HEIF: libheif applies irot/imir while decoding (pillow-heif then
    sets the EXIF tag to 1), so Pillow's pixels are upright already and this is the transform applied.
    MWG regions are relative to the stored image, so sidecars turn boxes by this (docs/REGIONS.md)."""
    if im.format == "HEIF":
        return _heif_orientation(im)
    return orientation_of(im)


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode == "RGB":
        return im
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        bg = Image.new("RGB", im.size, (255, 255, 255))
        bg.paste(im, mask=im.getchannel("A"))
        return bg
    if _deep_grey(im):
        return _grey_to_8_bit(im).convert("RGB")
    return im.convert("RGB")


def _deep_grey(im: Image.Image) -> bool:
    return im.mode.startswith("I;16") or im.mode in ("I", "F")


def _grey_to_8_bit(im: Image.Image) -> Image.Image:
    """A 16-bit / 32-bit grey image scaled to 8-bit "L" (its brightest pixel at 255), in strips of rows:
    whole-image float copies made an 8000 x 8000 PNG cost ~830 MB, this about a third of it."""
    arr = np.asarray(im)
    top = float(arr.max()) or 1.0
    out = np.empty(arr.shape, np.uint8)
    step = max(1, (1 << 22) // max(1, arr.shape[1]))  # ~4 M pixels (16 MB of float32) a strip
    for y in range(0, arr.shape[0], step):
        out[y:y + step] = np.clip(arr[y:y + step].astype(np.float32) * (255.0 / top), 0, 255)
    return Image.fromarray(out)


_SRGB = ImageCms.createProfile("sRGB")


@functools.lru_cache(maxsize=16)
def _srgb_transform(icc: bytes, mode: str):
    """The transform from an embedded ICC profile to sRGB (building one costs milliseconds; a camera
    roll has a handful of distinct profiles), or None when the profile is sRGB already or unusable."""
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        name = (ImageCms.getProfileDescription(src) or "").strip()
        if mode == "RGB" and name.lower().startswith("srgb"):
            return None
        return ImageCms.buildTransform(src, _SRGB, mode, "RGB",
                                       renderingIntent=ImageCms.Intent.PERCEPTUAL)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as e:
        log.debug("ignoring an unusable ICC profile: %s", e)
        return None


def to_srgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """Pixels converted from the embedded profile (Display P3, Adobe RGB, Apple Generic RGB, a CMYK press
    profile) to sRGB, the space browsers and models assume; an image without a profile is left as is."""
    if not icc or im.mode not in ("RGB", "CMYK"):
        return im
    transform = _srgb_transform(bytes(icc), im.mode)
    if transform is None:
        return im
    try:
        return ImageCms.applyTransform(im, transform)
    except (ImageCms.PyCMSError, ValueError) as e:
        log.debug("colour conversion failed, keeping the stored values: %s", e)
        return im


def draft_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """The size to ask a JPEG's `draft` for, so a photo `size` long decodes to at least `max_side` long.

    draft picks the smallest DCT scale (1/2, 1/4, 1/8) still at least the requested width and height;
    asking for the photo's own proportions lets a 4000x3000 photo wanted 1000 px long decode at 1/4
    (a square request would hold it at 1/2 for its short side: twice the pixels, a third slower)."""
    w, h = size
    long_side = max(w, h, 1)
    if long_side <= max_side:
        return w, h
    return max(1, -(-w * max_side // long_side)), max(1, -(-h * max_side // long_side))  # ceil, in integers


def decode_upright(im: Image.Image, max_side: int | None = None) -> Image.Image:
    """Fully decode `im` (optionally at reduced size) and return an upright sRGB image.

    The embedded colour profile is applied (to_srgb); the original file is never changed.
    Raises CorruptImage when the data is truncated or damaged.
    """
    try:
        orientation = orientation_of(im)
        icc = im.info.get("icc_profile")
        if max_side and im.format in ("JPEG", "MPO"):
            im.draft("RGB" if im.mode != "CMYK" else "CMYK", draft_size(im.size, max_side))
        with BUDGET.hold(decode_bytes(im), f"{im.size[0]}x{im.size[1]} {im.mode}"):  # size after draft
            im = _decode_rgb(im, icc, max_side)
        if max_side and max(im.size) > max_side:
            # Resize before rotating: the same result, with less pixels to move.
            im = im.copy() if im.readonly else im
            # BOX (area average) is the cheapest filter that still anti-aliases a downscale
            im.thumbnail((max_side, max_side), Image.Resampling.BOX, reducing_gap=2.0)
        method = _TRANSPOSE.get(orientation)
        return im.transpose(method) if method is not None else im
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise CorruptImage(f"cannot decode image ({e})") from None


def _decode_rgb(im: Image.Image, icc: bytes | None, max_side: int | None) -> Image.Image:
    """Load and convert to sRGB RGB; deep grey is shrunk while still one 8-bit channel."""
    im.load()
    if _deep_grey(im):
        im = _grey_to_8_bit(im)
        if max_side and max(im.size) > max_side:
            im.thumbnail((max_side, max_side), Image.Resampling.BOX, reducing_gap=2.0)
    return _to_rgb(to_srgb(im, icc))


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def open_upright(path: str | Path | BinaryIO, max_side: int | None = None, max_pixels: int | None = None) -> Image.Image:
    """Open and decode a photo file as an upright RGB image, at most `max_side` pixels long if given.

    A video gives its poster frame (the picture its thumbnails show), so analysis, face crops and
    regions work on videos as on photos."""
    if video.sniff(path) is not None:
        return video.poster(path, max_side)
    im = open_image(path, max_pixels=max_pixels)
    # load() releases the file handle of single-frame images, so nothing is left open.
    return decode_upright(im, max_side)


def _ratio(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError, ZeroDivisionError):
        num, den = v
        return float(num) / float(den)


def _gps_coord(values, ref) -> float | None:
    try:
        d, m, s = (_ratio(x) for x in values)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    val = d + m / 60.0 + s / 3600.0
    if isinstance(ref, bytes):
        ref = ref.decode(errors="ignore")
    if str(ref).strip().upper() in ("S", "W"):
        val = -val
    return val


_clean_text = metadata.clean_text


def read_facts(im: Image.Image) -> PhotoFacts:
    """EXIF facts and upright size of an opened (not necessarily decoded) image."""
    mime, ext = FORMATS[im.format]
    try:
        exif = exif_of(im)
    except Exception:
        exif = None
    orientation = stored_orientation(im)
    make = _clean_text(exif.get(_TAG_MAKE)) if exif else None
    model = _clean_text(exif.get(_TAG_MODEL)) if exif else None
    lat, lon = _gps_of(exif) if exif else (None, None)
    when: metadata.CaptureTime | None = None
    description = content_id = None
    try:
        when = metadata.capture_time(im, exif)
        description = metadata.description(im, exif)
        content_id = metadata.apple_content_id(exif)
    except Exception:  # noqa: BLE001 - damaged metadata loses a fact, never the photo
        log.debug("unreadable date or description metadata", exc_info=True)
    w, h = im.size
    if orientation in (5, 6, 7, 8) and im.format != "HEIF":  # libheif has turned HEIF pixels already
        w, h = h, w
    return PhotoFacts(im.format, mime, ext, w, h, orientation, when.taken_at if when else None, make, model,
                      lat, lon, when.offset if when else None, when.source if when else None, description,
                      content_id)


def _gps_of(exif) -> tuple[float | None, float | None]:
    """(latitude, longitude) of the EXIF GPS block, or (None, None) when absent, out of range or 0, 0
    (what cameras write without a fix)."""
    try:
        gps = exif.get_ifd(_IFD_GPS)
    except Exception:
        return None, None
    if not (gps and 2 in gps and 4 in gps):
        return None, None
    lat = _gps_coord(gps[2], gps.get(1, "N"))
    lon = _gps_coord(gps[4], gps.get(3, "E"))
    if lat is None or lon is None or not (-90 <= lat <= 90) or not (-180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None, None
    return lat, lon


# --- perceptual hash -----------------------------------------------------------------------------
def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0, :] = np.sqrt(1.0 / n)
    return m


_DCT32 = _dct_matrix(32)


def phash(im: Image.Image) -> str:
    """64-bit DCT perceptual hash (pHash) as 16 hex digits; similar images differ in few bits."""
    g = np.asarray(im.convert("L").resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
    d = _DCT32 @ g @ _DCT32.T
    low = d[:8, :8].flatten()
    med = np.median(low[1:])
    bits = low > med
    value = 0
    for b in bits:
        value = (value << 1) | int(b)
    return f"{value:016x}"


def hamming(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")
