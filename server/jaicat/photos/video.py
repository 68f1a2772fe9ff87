"""Videos: recognise the container, read what it says about itself (capture time with zone, GPS,
duration, size, rotation, the Live Photo content identifier), and decode the few frames Jaicat needs:
a poster for thumbnails and keyframes for analysis.

FFmpeg through PyAV (its wheels carry the libraries). Memory stays bounded for multi-GB files: the
demuxer reads only the index and the packets around the frames asked for, and decoding stops there.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..errors import CorruptImage, UnsupportedImage
from . import metadata
from .decode_budget import BUDGET

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = {".mp4", ".mov", ".m4v", ".3gp", ".3g2", ".avi", ".mkv", ".webm", ".qt"}
# ISO base media brands of video files (HEIC/AVIF also start with `ftyp`, with image brands)
_BRANDS = {
    b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"mp71", b"qt  ", b"M4V ", b"M4VP",
    b"3gp4", b"3gp5", b"3gp6", b"3g2a", b"avc1", b"dash", b"MSNV", b"XAVC", b"f4v ", b"mmp4",
}
_QT_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}  # QuickTime files without ftyp
# container -> (mime, canonical extension)
CONTAINERS = {
    "mp4": ("video/mp4", ".mp4"),
    "mov": ("video/quicktime", ".mov"),
    "3gp": ("video/3gpp", ".3gp"),
    "matroska": ("video/x-matroska", ".mkv"),
    "webm": ("video/webm", ".webm"),
    "avi": ("video/x-msvideo", ".avi"),
}


@dataclass
class VideoFacts:
    container: str  # a key of CONTAINERS
    mime: str
    ext: str
    codec: str  # "h264", "hevc", ...
    width: int  # upright (rotation applied)
    height: int
    rotation: int  # degrees counter-clockwise the stored frames turn to stand upright: 0, 90, 180, 270
    duration: float | None  # seconds
    taken_at: dt.datetime | None  # local time at the place of capture when the zone is known, else UTC
    taken_offset: str | None
    date_source: str | None
    gps_lat: float | None
    gps_lon: float | None
    camera_make: str | None
    camera_model: str | None
    content_id: str | None  # com.apple.quicktime.content.identifier (Live Photo pairing)


def sniff(path) -> str | None:
    """The container family from the first bytes ("mp4", "mov", "matroska", "avi"), or None.
    `path` may be an open binary file: it is read from its start and left where it was."""
    try:
        if hasattr(path, "read"):
            pos = path.tell()
            path.seek(0)
            head = path.read(16)
            path.seek(pos)
        else:
            with open(path, "rb") as f:
                head = f.read(16)
    except OSError:
        return None
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _BRANDS:
            return "mov" if brand == b"qt  " else ("3gp" if brand.startswith(b"3g") else "mp4")
        return None
    if len(head) >= 8 and head[4:8] in _QT_ATOMS:
        return "mov"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    return None


def check_complete(path: str | Path, container: str) -> None:
    """Refuse an MP4/QuickTime file whose top-level boxes run past its end (a copy or upload that
    stopped early): walking the box headers costs a few reads, however large the file."""
    if container not in ("mp4", "mov", "3gp"):
        return
    size = os.path.getsize(path)
    pos = 0
    seen = set()
    with open(path, "rb") as f:
        while pos < size:
            f.seek(pos)
            head = f.read(16)
            if len(head) < 8:
                raise CorruptImage(f"the video is truncated: {size - pos} stray bytes at its end")
            box_size = int.from_bytes(head[:4], "big")
            kind = head[4:8]
            if box_size == 1 and len(head) == 16:
                box_size = int.from_bytes(head[8:16], "big")
            elif box_size == 0:  # the last box runs to the end of the file
                box_size = size - pos
            if box_size < 8:
                raise CorruptImage("damaged video: a box with an impossible size")
            if pos + box_size > size:
                raise CorruptImage(
                    f"the video is truncated: its '{kind.decode('latin-1')}' box needs "
                    f"{pos + box_size} bytes, the file has {size}")
            seen.add(kind)
            pos += box_size
    if b"moov" not in seen:
        raise CorruptImage("damaged video: no 'moov' index (the recording was not finished)")


def _av():
    # PyAV ignores FFmpeg's log by default; setting a level would install a Python log callback,
    # which can deadlock against encoder/decoder threads.
    import av

    return av


BIG_FRAME_PIXELS = 3840 * 2160  # above 4K, frames decode one at a time (no frame threads)


def decode_bytes(stream, max_side: int | None = None) -> int:
    """About the most memory decoding a frame of `stream` takes, in bytes: the YUV 4:2:0 frames in
    flight (one per frame thread plus the references) and the RGB picture made of one."""
    w, h = stream.codec_context.width or 0, stream.codec_context.height or 0
    in_flight = 3 if w * h > BIG_FRAME_PIXELS else 3 + (os.cpu_count() or 1)
    side = min(max(w, h), max_side) if max_side else max(w, h)
    scale = (side / max(w, h)) ** 2 if max(w, h) else 1.0
    return int(w * h * 1.5 * in_flight + w * h * scale * 4)


def _threads(stream) -> None:
    """Frame threads for ordinary videos (faster posters); none for frames above 4K, where each thread
    holds a frame of its own (16 threads x 96 MB for an 8000 x 8000 video)."""
    w, h = stream.codec_context.width or 0, stream.codec_context.height or 0
    if w * h <= BIG_FRAME_PIXELS:
        stream.thread_type = "AUTO"


def _open(path):
    av = _av()
    try:
        c = av.open(path if hasattr(path, "read") else str(path), "r", metadata_errors="replace")
    except av.error.InvalidDataError:
        raise UnsupportedImage("not a video Jaicat can read (unknown or damaged container)") from None
    except (av.error.FFmpegError, OSError) as e:
        raise CorruptImage(f"cannot read the video ({e})") from None
    if not c.streams.video:
        c.close()
        raise UnsupportedImage("the file has no video track")
    return c


_ISO6709 = re.compile(r"([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)")


def _location(meta: dict) -> tuple[float | None, float | None]:
    """ISO 6709 location ("+48.8580+002.2945+035.000/") from QuickTime or MP4 (©xyz) tags."""
    for key in ("com.apple.quicktime.location.ISO6709", "location", "location-eng"):
        m = _ISO6709.match(meta.get(key) or "")
        if m:
            lat, lon = float(m[1]), float(m[2])
            if -90 <= lat <= 90 and -180 <= lon <= 180 and (lat, lon) != (0.0, 0.0):
                return lat, lon
    return None, None


def _capture_time(meta: dict) -> tuple[dt.datetime | None, str | None, str | None]:
    """QuickTime's creationdate carries the zone and is local time: preferred. MP4's creation_time
    is UTC (the phone's clock, no zone); a zero date (1904/1970) means none was recorded."""
    parsed = metadata.parse_datetime(meta.get("com.apple.quicktime.creationdate"))
    if parsed:
        return parsed[0], parsed[1], "quicktime:CreationDate"
    raw = meta.get("creation_time")
    parsed = metadata.parse_datetime(raw)
    if parsed and parsed[0].year > 1970:
        return parsed[0], "+00:00", "quicktime:CreateDate"
    return None, None, None


def _rotation(stream, frame) -> int:
    rot = getattr(frame, "rotation", 0) if frame is not None else 0
    return int(round(rot or 0)) % 360


_TURN = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}


def _upright(frame, rotation: int, max_side: int | None) -> Image.Image:
    if max_side and max(frame.width, frame.height) > max_side:
        # scaled by FFmpeg straight from the decoder's YUV: a full-size RGB copy of an 8000 x 8000
        # frame (and Pillow's 4 bytes a pixel of it) cost ~800 MB for a 1280 px poster
        k = max_side / max(frame.width, frame.height)
        im = frame.reformat(width=max(1, round(frame.width * k)), height=max(1, round(frame.height * k)),
                            format="rgb24").to_image()
    else:
        im = frame.to_image()  # RGB
    turn = _TURN.get(rotation)
    return im.transpose(turn) if turn is not None else im


_MAX_FRAMES_AFTER_SEEK = 300  # a phone's keyframe interval is 1-2 s; this bounds a file with none


def _frame_at(c, stream, seconds: float):
    """The frame shown at `seconds`: seek to the keyframe before it, then decode forward (at most
    _MAX_FRAMES_AFTER_SEEK frames, so cost does not grow with the file)."""
    if seconds > 0 and stream.time_base:
        try:
            c.seek(int(seconds / stream.time_base), stream=stream, backward=True, any_frame=False)
        except Exception:  # noqa: BLE001 - unseekable: decode from where we are
            pass
    last = None
    for n, frame in enumerate(c.decode(stream)):
        last = frame
        if frame.time is None or frame.time >= seconds - 1e-3 or n >= _MAX_FRAMES_AFTER_SEEK:
            break
    return last


def _duration(c, stream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if c.duration:
        return c.duration / 1_000_000
    return None


def inspect(path: str | Path, max_side: int | None = None) -> tuple[VideoFacts, Image.Image]:
    """Facts and an upright poster frame (about a second in, or at a tenth of a short clip).

    Raises UnsupportedImage when the file is not a video and CorruptImage when it is damaged or
    truncated: a video catalogued here really plays.
    """
    container = sniff(path)
    if container is None:
        raise UnsupportedImage("not a video Jaicat can read (no MP4, QuickTime, Matroska or AVI header)")
    check_complete(path, container)
    c = _open(path)
    try:
        stream = c.streams.video[0]
        _threads(stream)
        meta = {k: v for k, v in (c.metadata or {}).items()}
        fmt = c.format.name or ""
        if container == "matroska" and "webm" in fmt and stream.codec_context.name in ("vp8", "vp9", "av1"):
            container = "webm"
        duration = _duration(c, stream)
        at = poster_time(duration)
        av = _av()
        with BUDGET.hold(decode_bytes(stream, max_side), "a video frame"):
            try:
                frame = _frame_at(c, stream, at) or _frame_at(c, stream, 0.0)
            except av.error.FFmpegError as e:
                raise CorruptImage(f"cannot decode the video ({e})") from None
            if frame is None:
                raise CorruptImage("the video has no frame that decodes")
            rotation = _rotation(stream, frame)
            poster = _upright(frame, rotation, max_side)
            w, h = stream.codec_context.width or frame.width, stream.codec_context.height or frame.height
            del frame
        if rotation in (90, 270):
            w, h = h, w
        taken, offset, source = _capture_time(meta)
        lat, lon = _location(meta)
        mime, ext = CONTAINERS[container]
        facts = VideoFacts(
            container, mime, ext, stream.codec_context.name, w, h, rotation, duration, taken, offset, source,
            lat, lon, metadata.clean_text(meta.get("com.apple.quicktime.make") or meta.get("make")),
            metadata.clean_text(meta.get("com.apple.quicktime.model") or meta.get("model")),
            metadata.clean_text(meta.get("com.apple.quicktime.content.identifier")),
        )
        return facts, poster
    finally:
        c.close()


def poster_time(duration: float | None) -> float:
    """Where the poster frame is taken: a second in (past fades from black), or a tenth of a short clip."""
    return min(1.0, duration / 10) if duration else 0.0


def poster(path, max_side: int | None = None) -> Image.Image:
    """The upright poster frame alone (path or open binary file): the picture analysis, face crops and
    regions use for a video, so their boxes line up with its thumbnails."""
    c = _open(path)
    try:
        stream = c.streams.video[0]
        with BUDGET.hold(decode_bytes(stream, max_side), "a video frame"):
            frame = _frame_at(c, stream, poster_time(_duration(c, stream))) or _frame_at(c, stream, 0.0)
            if frame is None:
                raise CorruptImage("the video has no frame that decodes")
            return _upright(frame, _rotation(stream, frame), max_side)
    except _av().error.FFmpegError as e:
        raise CorruptImage(f"cannot decode the video ({e})") from None
    finally:
        c.close()


def keyframes(path: str | Path, count: int = 3, max_side: int | None = None) -> list[Image.Image]:
    """Up to `count` upright frames spread over the video (at 1/(2n), 3/(2n), ... of its length): what
    CLIP, faces and suggestions look at. Each is one keyframe seek and a few packets."""
    c = _open(path)
    try:
        stream = c.streams.video[0]
        duration = _duration(c, stream) or 0.0
        out = []
        with BUDGET.hold(decode_bytes(stream, max_side), "a video frame"):
            for i in range(count):
                frame = _frame_at(c, stream, duration * (2 * i + 1) / (2 * count))
                if frame is not None:
                    out.append(_upright(frame, _rotation(stream, frame), max_side))
        if not out:
            raise CorruptImage("the video has no frame that decodes")
        return out
    except _av().error.FFmpegError as e:
        raise CorruptImage(f"cannot decode the video ({e})") from None
    finally:
        c.close()
