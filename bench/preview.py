"""Video previews: how long making the browser-playable preview of a phone clip takes, how big it is,
and how much memory it needs.

    python bench/preview.py [--seconds 20] [--size 1920x1080]

The clip is what an iPhone records held upright: HEVC in a MOV, stored sideways with a 90° display
rotation, 30 fps, AAC sound; its picture is a moving gradient with noise, so the encoders have real
work. Prints, in one run: the time to decode the clip alone (for scale), the time `make_preview` takes
(and its ratio to the clip's length: below 1 means faster than real time; CPU seconds too, since
wall time on a shared machine is noisy), the preview's size and
bitrate against the original's, and the process RSS growth while the preview is made (sampled every
10 ms; it must not grow with the clip).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from jaicat.photos import preview, video  # noqa: E402


def rss_kb() -> int:
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Peak(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.stop_flag = rss_kb(), threading.Event()

    def run(self):
        while not self.stop_flag.is_set():
            self.peak = max(self.peak, rss_kb())
            time.sleep(0.01)


def make_clip(path: Path, seconds: float, width: int, height: int, fps: int = 30) -> None:
    """An upright `width`x`height` picture stored turned (rotation 90), HEVC + AAC in a MOV."""
    import av

    out = av.open(str(path), "w")
    v = out.add_stream("libx265", rate=fps, options={"preset": "ultrafast", "x265-params": "log-level=error"})
    v.width, v.height, v.pix_fmt = height, width, "yuv420p"  # stored sideways
    v.set_display_rotation(-90)
    a = out.add_stream("aac", rate=48000, layout="stereo")
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:width, 0:height]  # the stored frame: `height` wide, `width` tall
    for i in range(int(seconds * fps)):
        base = ((xx + yy + 4 * i) % 256).astype(np.uint8)
        frame = np.stack([base, np.roll(base, 40 * i % height, axis=1), 255 - base], axis=-1)
        frame[::7, ::5] = rng.integers(0, 256, frame[::7, ::5].shape, dtype=np.uint8)
        for p in v.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
            out.mux(p)
    for p in v.encode():
        out.mux(p)
    t = np.arange(int(seconds * 48000)) / 48000
    wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for start in range(0, len(wave), 1024):
        chunk = np.ascontiguousarray(np.stack([wave[start:start + 1024]] * 2))
        f = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
        f.sample_rate, f.pts = 48000, start
        for p in a.encode(f):
            out.mux(p)
    for p in a.encode():
        out.mux(p)
    out.close()


def decode_only(path: Path) -> tuple[float, float]:
    c = video._open(path)  # noqa: SLF001
    t, cpu = time.perf_counter(), time.process_time()
    for _ in c.decode(c.streams.video[0]):
        pass
    c.close()
    return time.perf_counter() - t, time.process_time() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--size", default="1920x1080", help="upright picture size, WxH (landscape sides)")
    args = ap.parse_args()
    long_side, short_side = (int(x) for x in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        clip, out = Path(tmp) / "IMG_0001.MOV", Path(tmp) / "preview.mp4"
        t = time.perf_counter()
        make_clip(clip, args.seconds, short_side, long_side)  # portrait, as held
        print(f"clip: {args.seconds:.0f} s HEVC {short_side}x{long_side} (stored turned, rotation 90), "
              f"{clip.stat().st_size / 1e6:.1f} MB, made in {time.perf_counter() - t:.0f} s")
        dec, dec_cpu = decode_only(clip)
        print(f"decode alone: {dec:.1f} s ({dec_cpu:.1f} s CPU)")
        sampler = Peak()
        before = sampler.peak
        sampler.start()
        t, cpu = time.perf_counter(), time.process_time()
        facts = preview.make_preview(clip, out)
        took, took_cpu = time.perf_counter() - t, time.process_time() - cpu
        sampler.stop_flag.set()
        sampler.join()
        print(f"preview: {facts.width}x{facts.height} H.264/AAC, {facts.duration:.1f} s, "
              f"{facts.size / 1e6:.2f} MB ({facts.size * 8 / facts.duration / 1e6:.2f} Mbit/s; original "
              f"{clip.stat().st_size * 8 / args.seconds / 1e6:.2f} Mbit/s), made in {took:.1f} s = "
              f"{took / args.seconds:.2f} x the clip's length ({took_cpu:.1f} s CPU = {took_cpu / args.seconds:.2f} x)")
        print(f"memory while making it: +{(sampler.peak - before) / 1024:.0f} MB RSS")


if __name__ == "__main__":
    main()
