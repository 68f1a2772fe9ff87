"""Video ingest on a large file: upload throughput against the real server, poster time, server memory.

    python bench/video.py [--size-mb 1024] [--repeat 2]

The video is a real 1080p H.264 MP4 of the requested size: 24 all-intra frames of noise (each one a
keyframe of several MB) encoded once with PyAV, then muxed over and over with rising timestamps, so a
1 GB file takes seconds to make and plays like any camera file. The server is `jaicat serve` in a
subprocess (gunicorn, analysis worker off); the client speaks the PWA's protocol with its adaptive
chunk sizes (bench/upload.py). Prints, per run and best: upload MB/s (create -> last chunk answered,
which includes fsync, sha256 verification, container check, poster and thumbnails), `cp` MB/s of the
same file for scale, the in-process time of `video.inspect` (facts + upright poster) on the file, and
the server worker's RSS growth over the uploads (sampled every 10 ms; the goal is flat, < 100 MB).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from upload import MB, RssSampler, children, free_port, rss_kb, timed_cp, upload  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from jaicat.photos import video  # noqa: E402


def make_seed(path: Path, frames: int = 24) -> None:
    import av

    out = av.open(str(path), "w")
    s = out.add_stream("libx264", rate=24, options={"preset": "ultrafast", "qp": "4", "g": "1"})
    s.width, s.height, s.pix_fmt = 1920, 1080, "yuv420p"
    rng = np.random.default_rng(7)
    for _ in range(frames):
        a = rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
        for p in s.encode(av.VideoFrame.from_ndarray(a, format="rgb24")):
            out.mux(p)
    for p in s.encode():
        out.mux(p)
    out.close()


def make_video(seed: Path, path: Path, size: int, salt: int) -> str:
    """Repeat the seed's (all-key) packets with rising timestamps until the file reaches `size`;
    `salt` changes the creation time so every file is new to the catalogue. Returns its sha256."""
    import av

    src = av.open(str(seed))
    packets = [(bytes(p), p.duration or 1) for p in src.demux(src.streams.video[0]) if p.size]
    out = av.open(str(path), "w")
    out.metadata["creation_time"] = f"2024-07-{10 + salt:02d}T16:30:05Z"
    st = out.add_stream_from_template(src.streams.video[0])
    pts, written, i = 0, 0, 0
    while written < size:
        data, dur = packets[i % len(packets)]
        pkt = av.Packet(data)
        pkt.stream, pkt.pts, pkt.dts, pkt.duration = st, pts, pts, dur
        pkt.time_base = src.streams.video[0].time_base
        pkt.is_keyframe = True
        out.mux(pkt)
        pts += dur
        written += len(data)
        i += 1
    out.close()
    src.close()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while buf := f.read(8 * MB):
            h.update(buf)
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    size = args.size_mb * MB

    with tempfile.TemporaryDirectory(prefix="jaicat-bench-video-") as tmp:
        tmp = Path(tmp)
        seed = tmp / "seed.mp4"
        t = time.perf_counter()
        make_seed(seed)
        files = [(tmp / f"VID_{i}.mp4", None) for i in range(args.repeat)]
        files = [(p, make_video(seed, p, size, i)) for i, (p, _) in enumerate(files)]
        made = time.perf_counter() - t
        real = files[0][0].stat().st_size
        posters = []
        for p, _ in files:
            t = time.perf_counter()
            facts, poster = video.inspect(p, 1280)
            posters.append(time.perf_counter() - t)
        print(f"video: {real / MB:.0f} MB, {facts.width}x{facts.height} {facts.codec}, "
              f"{facts.duration:.1f} s (made in {made:.0f} s)")

        data_dir = tmp / "data"
        port = free_port()
        env = dict(os.environ, JAICAT_WORKER="false", JAICAT_LOG_REQUESTS="false", HF_HUB_OFFLINE="1")
        cmd = [sys.executable, "-m", "jaicat", "--data-dir", str(data_dir)]
        proc = subprocess.Popen(cmd + ["serve", "--host", "127.0.0.1", "--port", str(port), "--no-zeroconf"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        url = f"http://127.0.0.1:{port}"
        ups, cps = [], []
        try:
            for _ in range(300):
                try:
                    if requests.get(f"{url}/api/health", timeout=1).ok:
                        break
                except requests.RequestException:
                    time.sleep(0.1)
            out = subprocess.run(cmd + ["pair", "--no-qr"], capture_output=True, text=True, env=env).stdout
            code = re.search(r"Pairing code: (\w+)", out).group(1)
            token = requests.post(f"{url}/api/pair", json={"code": code, "name": "bench"}).json()["token"]
            worker = children(proc.pid)[0]
            warm = tmp / "warm.mp4"
            upload(port, token, warm, make_video(seed, warm, 20 * MB, 9), None, "warm.mp4")
            base = rss_kb(worker)
            sampler = RssSampler(worker)
            sampler.start()
            for i, (p, sha) in enumerate(files):
                cps.append(timed_cp(p, tmp / "copy.bin", fsync=True))
                ups.append(upload(port, token, p, sha, None, f"VID_{i}.mp4"))
                (tmp / "copy.bin").unlink()
            sampler.stop_flag.set()
            sampler.join()
            items = requests.get(f"{url}/api/photos", headers={"Authorization": f"Bearer {token}"}).json()["items"]
            assert sum(1 for it in items if it["media"] == "video") == args.repeat + 1
        finally:
            proc.terminate()
            proc.wait(timeout=30)

        def rate(t: float) -> float:
            return real / MB / t

        print(f"{'':22}{'best':>10}{'median':>10}")
        print(f"{'upload + ingest MB/s':22}{rate(min(ups)):10.1f}{rate(statistics.median(ups)):10.1f}")
        print(f"{'cp + fsync MB/s':22}{rate(min(cps)):10.1f}{rate(statistics.median(cps)):10.1f}")
        print(f"{'poster (inspect) s':22}{min(posters):10.3f}{statistics.median(posters):10.3f}")
        print(f"upload (best) = {100 * rate(min(ups)) / rate(min(cps)):.0f}% of cp+fsync; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"server RSS: baseline {base / 1024:.1f} MB, peak {sampler.peak / 1024:.1f} MB, "
              f"growth {(sampler.peak - base) / 1024:.1f} MB (goal < 100 MB)")
        shutil.rmtree(data_dir, ignore_errors=True)

if __name__ == "__main__":
    main()
