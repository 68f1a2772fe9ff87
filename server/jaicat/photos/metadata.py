"""What a photo file says about itself beyond pixels: when it was taken (with exiftool's precedence,
sub-seconds, UTC offset and where the date came from) and the photographer's own description.

exiftool's order, kept here: EXIF DateTimeOriginal, then EXIF CreateDate (DateTimeDigitized), then the
XMP creation dates (photoshop:DateCreated, xmp:CreateDate, exif:DateTimeOriginal written as XMP), then
IPTC DateCreated + TimeCreated, then the maker note's own date where one is cheap and reliable to read
(maker_note_time: Pentax and Ricoh-made Pentax cameras), then IFD0 ModifyDate only when the Software tag is not an editor
(editors rewrite it on every save: a GIMP-resaved 2003 photo must not be dated by the resave), and the
file's own time as the last resort (the caller adds that: only it knows the file).
"""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass

_TAG_IMAGE_DESCRIPTION = 0x010E
_TAG_SOFTWARE = 0x0131
_TAG_DATETIME = 0x0132
_IFD_EXIF = 0x8769
_TAG_MAKER_NOTE = 0x927C
_EXIF_DATES = (  # (datetime tag, subsec tag, offset tag, source name)
    (0x9003, 0x9291, 0x9011, "exif:DateTimeOriginal"),
    (0x9004, 0x9292, 0x9012, "exif:CreateDate"),
)
_XMP_DATES = ("photoshop:DateCreated", "exif:DateTimeOriginal", "xmp:CreateDate")
# Software names that rewrite ModifyDate when they save (lower case, matched as substrings).
EDITORS = (
    "gimp", "photoshop", "lightroom", "darktable", "rawtherapee", "capture one", "affinity", "paint.net",
    "pixelmator", "snapseed", "picasa", "acdsee", "digikam", "luminar", "gthumb", "shotwell", "xnview",
    "irfanview", "photos", "imagemagick", "graphicsmagick", "paintshop", "corel", "preview", "aperture",
    "iphoto", "photoscape", "fotor", "canva", "krita", "exiftool",
)
# Cameras fill ImageDescription with their own name; that is not the photographer speaking.
_CAMERA_BOILERPLATE = re.compile(
    r"^(olympus digital camera|sony dsc|default|image|digital camera|camera|kodak digital still camera"
    r"|minolta digital camera|samsung camera pictures|exif_jpeg_\d+|\s*)$", re.I)


@dataclass
class CaptureTime:
    taken_at: dt.datetime  # local time as the camera wrote it, with microseconds when known
    offset: str | None  # "+02:00" when the file says it
    source: str  # "exif:DateTimeOriginal", "xmp:photoshop:DateCreated", "iptc:DateCreated", ...


def clean_text(v) -> str | None:
    """A text tag as a string: cut at the first NUL (C strings padded or with junk after the terminator,
    `ION230\\0F` is "ION230"), whitespace trimmed, None when empty."""
    if v is None:
        return None
    if isinstance(v, bytes):
        v = v.decode("utf-8", errors="replace")
    v = str(v).split("\x00", 1)[0].strip()
    return v or None


def _offset(v) -> str | None:
    s = clean_text(v)
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", s or "")
    if not m:
        return "+00:00" if s == "Z" else None
    return f"{m[1]}{m[2]}:{m[3]}"


def _subsec(v) -> int:
    """EXIF SubSecTime ("348", "05") as microseconds: the digits are a decimal fraction."""
    s = clean_text(v) or ""
    s = s.strip().split(" ")[0]
    if not s.isdigit():
        return 0
    return int((s + "000000")[:6])


def parse_datetime(v) -> tuple[dt.datetime, str | None] | None:
    """'2024:07:14 18:30:05', ISO 8601 '2024-07-14T18:30:05.25+02:00', or a date alone, as (local naive
    time, offset or None); None when unreadable or outside 1901-2199 (zeros, garbage)."""
    s = clean_text(v)
    if not s:
        return None
    # Apple's visionOS writes the zone as "GMT+02:00"
    m = re.match(r"(\d{4})[:-](\d{2})[:-](\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?(\.\d+)?)?\s*"
                 r"(?:GMT|UTC)?(Z|[+-]\d{2}:?\d{2})?", s)
    if not m:
        return None
    try:
        t = dt.datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4] or 0), int(m[5] or 0), int(m[6] or 0),
                        int((m[7] or ".0")[1:].ljust(6, "0")[:6]))
    except ValueError:
        return None
    if not 1900 < t.year < 2200:
        return None
    return t, _offset(m[8]) if m[8] else None


def _is_editor(software: str | None) -> bool:
    s = (software or "").lower()
    return any(name in s for name in EDITORS)


def _xmp_value(packet: str, name: str) -> str | None:
    """A simple property of an XMP packet, written as an attribute or as an element."""
    m = re.search(rf'{re.escape(name)}\s*=\s*"([^"]*)"', packet) or re.search(
        rf"<{re.escape(name)}>([^<]*)</{re.escape(name)}>", packet)
    return m[1].strip() if m else None


def _xmp_description(packet: str) -> str | None:
    m = re.search(r"<dc:description>(.*?)</dc:description>", packet, re.S)
    if not m:
        return None
    li = re.search(r"<rdf:li[^>]*>(.*?)</rdf:li>", m[1], re.S)
    text = li[1] if li else m[1]
    return _unescape(text)


def _unescape(text: str) -> str | None:
    return clean_text(html.unescape(re.sub(r"<[^>]+>", "", text)))


def _xmp_packet(info: dict) -> str:
    raw = info.get("xmp") or info.get("XML:com.adobe.xmp") or b""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    return raw if isinstance(raw, str) else ""


def _iptc(im) -> dict:
    if im.format not in ("JPEG", "MPO", "TIFF"):
        return {}
    try:
        from PIL import IptcImagePlugin

        return IptcImagePlugin.getiptcinfo(im) or {}
    except Exception:  # noqa: BLE001 - a damaged IPTC block only loses the IPTC facts
        return {}


def _iptc_text(iptc: dict, key: tuple[int, int]) -> str | None:
    v = iptc.get(key)
    if isinstance(v, list):
        v = v[0] if v else None
    return clean_text(v)


def capture_time(im, exif) -> CaptureTime | None:
    """When the photo was taken, by exiftool's precedence (module docstring); None when nothing says."""
    sub = {}
    if exif:
        try:
            sub = exif.get_ifd(_IFD_EXIF)
        except Exception:  # noqa: BLE001
            sub = {}
    for tag, subsec_tag, offset_tag, source in _EXIF_DATES:
        parsed = parse_datetime(sub.get(tag))
        if parsed:
            t, _ = parsed
            return CaptureTime(t.replace(microsecond=_subsec(sub.get(subsec_tag))),
                               _offset(sub.get(offset_tag)), source)
    packet = _xmp_packet(im.info)
    for name in _XMP_DATES:
        parsed = parse_datetime(_xmp_value(packet, name)) if packet else None
        if parsed:
            return CaptureTime(parsed[0], parsed[1], f"xmp:{name}")
    iptc = _iptc(im)
    date = _iptc_text(iptc, (2, 55))
    if date and re.fullmatch(r"\d{8}", date):
        time = _iptc_text(iptc, (2, 60)) or "000000"
        m = re.fullmatch(r"(\d{2})(\d{2})(\d{2})([+-]\d{4})?", time)
        text = f"{date[:4]}-{date[4:6]}-{date[6:]}T" + (f"{m[1]}:{m[2]}:{m[3]}{m[4] or ''}" if m else "00:00:00")
        parsed = parse_datetime(text)
        if parsed:
            return CaptureTime(parsed[0], parsed[1], "iptc:DateCreated")
    from_note = maker_note_time(sub.get(_TAG_MAKER_NOTE))
    if from_note is not None:
        return from_note
    if exif and not _is_editor(clean_text(exif.get(_TAG_SOFTWARE))):
        parsed = parse_datetime(exif.get(_TAG_DATETIME))
        if parsed:
            return CaptureTime(parsed[0], _offset(sub.get(0x9010)), "exif:ModifyDate")
    return None


# Pentax maker notes: a header, the byte order, then an IFD. Date (0x0006) and Time (0x0007) are
# 4 and 3 bytes, stored in the entry itself, so no offset (whose base differs between models) is
# followed. The other common maker notes carry no capture date: Apple's (RunTime counts from boot),
# Canon's and Nikon's (TimeInfo and WorldTime hold only the zone), Sony's (enciphered), Samsung's.
_PENTAX_HEADERS = ((b"PENTAX \x00", 10), (b"AOC\x00", 6))


def maker_note_time(note) -> CaptureTime | None:
    """The capture time a Pentax (or Ricoh-made Pentax) maker note records, or None: the year as a
    big-endian 16-bit number then month and day (whatever the note's byte order), and hour, minute,
    second, as ExifTool reads them."""
    if not isinstance(note, bytes):
        return None
    start = next((at for head, at in _PENTAX_HEADERS if note.startswith(head)), None)
    if start is None or len(note) < start + 2:
        return None
    order = "little" if note[start - 2:start] == b"II" else "big"
    count = int.from_bytes(note[start:start + 2], order)
    values = {}
    for i in range(min(count, 500)):
        entry = note[start + 2 + 12 * i: start + 14 + 12 * i]
        if len(entry) < 12:
            break
        tag, n = int.from_bytes(entry[0:2], order), int.from_bytes(entry[4:8], order)
        if tag in (0x0006, 0x0007) and n in (3, 4):
            values[tag] = entry[8:8 + n]
    date, time = values.get(0x0006), values.get(0x0007)
    if date is None or len(date) != 4:
        return None
    h, m, sec = time[:3] if time is not None and len(time) >= 3 else (0, 0, 0)
    try:
        t = dt.datetime(int.from_bytes(date[0:2], "big"), date[2], date[3], h, m, sec)
    except ValueError:
        return None
    if not 1900 < t.year < 2200:
        return None
    return CaptureTime(t, None, "makernote:Pentax")


def description(im, exif) -> str | None:
    """The photographer's own words: XMP dc:description, IPTC Caption-Abstract or EXIF ImageDescription
    (camera boilerplate such as "OLYMPUS DIGITAL CAMERA" is not a description)."""
    packet = _xmp_packet(im.info)
    candidates = [
        _xmp_description(packet) if packet else None,
        _iptc_text(_iptc(im), (2, 120)),
        clean_text(exif.get(_TAG_IMAGE_DESCRIPTION)) if exif else None,
    ]
    for text in candidates:
        if text and not _CAMERA_BOILERPLATE.match(text):
            return text[:2000]
    return None


def apple_content_id(exif) -> str | None:
    """The content identifier an iPhone writes in its maker note (tag 0x11): the still of a Live Photo
    carries the same one as its MOV (com.apple.quicktime.content.identifier)."""
    if not exif:
        return None
    try:
        note = exif.get_ifd(_IFD_EXIF).get(0x927C)
    except Exception:  # noqa: BLE001
        return None
    if not isinstance(note, bytes) or not note.startswith(b"Apple iOS\x00") or len(note) < 16:
        return None
    # "Apple iOS\0", a 2-byte version, the byte order, then an IFD; offsets count from the note's start
    order = "big" if note[12:14] == b"MM" else "little"
    count = int.from_bytes(note[14:16], order)
    for i in range(min(count, 200)):
        entry = note[16 + 12 * i: 28 + 12 * i]
        if len(entry) < 12:
            break
        tag, kind, n = (int.from_bytes(entry[0:2], order), int.from_bytes(entry[2:4], order),
                        int.from_bytes(entry[4:8], order))
        if tag != 0x11 or kind != 2 or not 0 < n < 256:
            continue
        raw = entry[8:8 + n] if n <= 4 else note[int.from_bytes(entry[8:12], order):][:n]
        return clean_text(raw)
    return None


def file_time(mtime: float) -> CaptureTime:
    """The last resort: a file's modification time, as local time."""
    t = dt.datetime.fromtimestamp(mtime).astimezone()
    off = t.strftime("%z")
    return CaptureTime(t.replace(tzinfo=None), f"{off[:3]}:{off[3:]}", "file")
