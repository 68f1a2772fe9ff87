"""Browser-playable previews of videos browsers cannot play (an iPhone's HEVC MOV, MPEG-4 part 2, AVI).

A preview is H.264 (libx264, in the PyAV wheel) with AAC sound in an MP4 with its index first
(`faststart`), so it plays and seeks in every browser while it downloads. It is upright (the
rotation is turned into the pixels: no display matrix for a player to miss), at most 1280x720
(720 on the short side), about 2 Mbit/s, and covers the whole clip up to PREVIEW_MAX_SECONDS (five
minutes: a phone clip is nearly always shorter; a longer recording gets its first five minutes,
and the Original button downloads all of it). The original is never changed.

Made one frame at a time (decode, scale and turn in FFmpeg's filter graph, encode), so memory does
not grow with the clip; written to a temporary name and renamed, so a crash leaves no half preview.
Cached as `<data_dir>/previews/<sha256[:2]>/<sha256>.mp4`; pipeline/previews.py makes them in the
background.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ..errors import CorruptImage
from . import video

log = logging.getLogger(__name__)

PREVIEW_MAX_SECONDS = 300.0
PREVIEW_LONG_SIDE, PREVIEW_SHORT_SIDE = 1280, 720
PREVIEW_VIDEO_BITRATE = 2_000_000  # bits/s, the cap; simple scenes take less (CRF 26)
PREVIEW_AUDIO_BITRATE = 128_000
PREVIEW_FPS_CAP = 30  # a 60 or 240 fps (slow motion) clip is previewed at 30 fps
# what current Chrome, Firefox and Safari all play: video codecs by container, and audio codecs
BROWSER_VIDEO = {"mp4": {"h264", "av1", "vp9"}, "mov": {"h264"}, "webm": {"vp8", "vp9", "av1"}}
BROWSER_AUDIO = {"aac", "mp3", "opus", "vorbis", "flac"}


@dataclass
class PreviewFacts:
    width: int
    height: int
    duration: float  # seconds covered by the preview
    size: int  # bytes


def preview_path(settings, sha: str) -> Path:
    """Where the preview of the video with this sha256 is cached (whether or not it exists)."""
    return settings.data_dir / "previews" / sha[:2] / f"{sha}.mp4"


def remove_preview(settings, sha: str) -> None:
    preview_path(settings, sha).unlink(missing_ok=True)


def browser_plays(path: str | Path) -> bool:
    """Whether browsers play the file as it is: its container, video codec and every audio track's
    codec are ones all current browsers decode (HEVC is not: most browsers on most systems lack it)."""
    container = video.sniff(path)
    c = video._open(path)  # noqa: SLF001 - one opener for the videos room
    try:
        fmt = c.format.name or ""
        if container == "matroska" and "webm" in fmt:
            container = "webm"
        codec = c.streams.video[0].codec_context.name
        audio = {a.codec_context.name for a in c.streams.audio}
    finally:
        c.close()
    return codec in BROWSER_VIDEO.get(container or "", set()) and audio <= BROWSER_AUDIO


def _size(width: int, height: int) -> tuple[int, int]:
    """Upright preview size: within 1280x720 (or 720x1280), aspect kept, even numbers (yuv420p)."""
    long_side, short_side = max(width, height), min(width, height)
    scale = min(1.0, PREVIEW_LONG_SIDE / long_side, PREVIEW_SHORT_SIDE / short_side)
    w, h = max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)
    return w, h


_TURN_FILTERS = {90: [("transpose", "cclock")], 180: [("hflip", ""), ("vflip", "")],
                 270: [("transpose", "clock")]}


def _graph(av, stream, rotation: int, width: int, height: int):
    """Scale, then turn (rotation: degrees counter-clockwise the frames turn to stand upright), to yuv420p."""
    graph = av.filter.Graph()
    chain = [graph.add_buffer(template=stream)]
    # scale first: the stored frame is turned, so its sides are the upright ones swapped
    sw, sh = (height, width) if rotation in (90, 270) else (width, height)
    chain.append(graph.add("scale", f"{sw}:{sh}"))
    for name, args in _TURN_FILTERS.get(rotation, []):
        chain.append(graph.add(name, args))
    chain.append(graph.add("format", "yuv420p"))
    chain.append(graph.add("buffersink"))
    for a, b in zip(chain, chain[1:], strict=False):
        a.link_to(b)
    graph.configure()
    return graph


def make_preview(src: str | Path, dest: str | Path) -> PreviewFacts:
    """Encode the browser-playable preview of video `src` into `dest` (atomically). Raises CorruptImage
    when the video cannot be decoded."""
    av = video._av()  # noqa: SLF001
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
    try:
        facts = _encode(av, src, tmp)
        os.replace(tmp, dest)
    except av.error.FFmpegError as e:
        raise CorruptImage(f"cannot make a preview of the video ({e})") from None
    finally:
        tmp.unlink(missing_ok=True)
    facts.size = dest.stat().st_size
    return facts


def _geometry(src) -> tuple[int, int, int]:
    """(stored width, stored height, rotation) of the first frame that decodes: the encoder's size
    must be known before any packet (the sound's included) is written."""
    c = video._open(src)  # noqa: SLF001
    try:
        frame = next(iter(c.decode(c.streams.video[0])), None)
    finally:
        c.close()
    if frame is None:
        raise CorruptImage("the video has no frame that decodes")
    return frame.width, frame.height, int(round(getattr(frame, "rotation", 0) or 0)) % 360


def _encode(av, src, tmp: Path) -> PreviewFacts:
    stored_w, stored_h, rotation = _geometry(src)
    upright = (stored_h, stored_w) if rotation in (90, 270) else (stored_w, stored_h)
    width, height = _size(*upright)
    inp = video._open(src)  # noqa: SLF001
    out = av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"})
    try:
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        ain = inp.streams.audio[0] if inp.streams.audio else None
        vout = _VideoOut(av, out, vin, rotation, width, height)
        aout = _AudioOut(av, out) if ain is not None else None
        for packet in inp.demux(*([vin] + ([ain] if ain is not None else []))):
            if packet.stream is ain:
                aout.add(packet)
            else:
                vout.add(packet)
        if not vout.frames:
            raise CorruptImage("the video has no frame that decodes")
        vout.flush()
        if aout is not None:
            aout.flush()
    finally:
        out.close()
        inp.close()
    return PreviewFacts(width, height, vout.duration, 0)


class _VideoOut:
    """The preview's H.264 stream: frames up to the cap and the frame-rate cap, scaled and turned
    upright, stamped on a 90 kHz clock."""

    def __init__(self, av, out, vin, rotation: int, width: int, height: int):
        rate = vin.average_rate or vin.guessed_rate or Fraction(30)
        fps = min(Fraction(rate), Fraction(PREVIEW_FPS_CAP))
        self.stream = out.add_stream("libx264", rate=fps, options={
            "preset": "veryfast", "crf": "26", "maxrate": str(PREVIEW_VIDEO_BITRATE),
            "bufsize": str(2 * PREVIEW_VIDEO_BITRATE), "profile": "high", "threads": "2"})
        self.stream.codec_context.time_base = Fraction(1, 90000)
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
        self.graph = _graph(av, vin, rotation, width, height)
        self.av, self.out = av, out
        self.frames, self.last_pts, self.last_time = 0, -1, None
        self.min_gap = 1 / float(fps)
        self.duration = 0.0  # seconds covered so far

    def add(self, packet) -> None:
        for frame in packet.decode():
            t = frame.time if frame.time is not None else 0.0
            if t > PREVIEW_MAX_SECONDS:
                break
            if self.last_time is not None and t - self.last_time < self.min_gap * 0.5:
                continue  # above the frame-rate cap
            self.graph.push(frame)
            self.frames += 1
            self._encode_filtered(t)
            self.last_time = t
            self.duration = t + self.min_gap

    def _encode_filtered(self, t: float) -> None:
        """Encode what the filter graph gives back for the frame at `t` seconds."""
        while True:
            try:
                f = self.graph.pull()
            except (self.av.error.BlockingIOError, self.av.error.EOFError):
                return
            pts = max(self.last_pts + 1, round(t * 90000))
            f.pts, f.time_base, self.last_pts = pts, Fraction(1, 90000), pts
            for p in self.stream.encode(f):
                self.out.mux(p)

    def flush(self) -> None:
        for p in self.stream.encode():
            self.out.mux(p)


class _AudioOut:
    """The preview's AAC stereo 48 kHz stream: the sound up to the cap."""

    def __init__(self, av, out):
        self.stream = out.add_stream("aac", rate=48000, layout="stereo")
        self.stream.bit_rate = PREVIEW_AUDIO_BITRATE
        self.resampler = av.AudioResampler(format="fltp", layout="stereo", rate=48000)
        self.out = out

    def add(self, packet) -> None:
        if packet.pts is not None and packet.time_base and packet.pts * packet.time_base > PREVIEW_MAX_SECONDS:
            return
        for frame in packet.decode():
            if frame.time is not None and frame.time > PREVIEW_MAX_SECONDS:
                break
            self._encode(self.resampler.resample(frame))

    def _encode(self, frames) -> None:
        for f in frames:
            for p in self.stream.encode(f):
                self.out.mux(p)

    def flush(self) -> None:
        self._encode(self.resampler.resample(None))
        for p in self.stream.encode():
            self.out.mux(p)
