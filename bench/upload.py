"""Upload throughput over loopback against the real server, next to `cp` of the same file.

    python bench/upload.py [--size-mb 200] [--chunk-mb 16] [--repeat 3]

The file is a real JPEG followed by random bytes up to the size (decoders stop at the JPEG's end, so
it ingests like a photo while being as big as a burst video). The server is `jaicat serve` in a
subprocess (gunicorn, threaded worker, analysis worker off); the client is `requests` sending
chunks with offsets, as the PWA does. Prints MB/s for the upload (create -> last chunk answered,
which includes fsync, sha256 verification and ingest), for `cp` and `cp` + fsync of the same file,
the server worker's CPU time per upload, and its peak RSS growth during the uploads (sampled every
10 ms from /proc). Wall-clock figures need an idle machine; CPU time is steadier on a shared one.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from PIL import Image

MB = 1024 * 1024


def make_file(path: Path, size: int) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 120, 40)).save(buf, "JPEG", quality=90)
    h = hashlib.sha256()
    with open(path, "wb") as f:
        head = buf.getvalue()
        f.write(head)
        h.update(head)
        left = size - len(head)
        while left > 0:
            block = os.urandom(min(8 * MB, left))
            f.write(block)
            h.update(block)
            left -= len(block)
    return h.hexdigest()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out += [int(x) for x in text]
    return out


class RssSampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop_flag = pid, 0, threading.Event()

    def run(self):
        while not self.stop_flag.is_set():
            try:
                self.peak = max(self.peak, rss_kb(self.pid))
            except OSError:
                return
            time.sleep(0.01)


def timed_cp(src: Path, dst: Path, fsync: bool) -> float:
    if dst.exists():
        dst.unlink()
    t = time.perf_counter()
    subprocess.run(["cp", str(src), str(dst)], check=True)
    if fsync:
        fd = os.open(dst, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    return time.perf_counter() - t


def upload(url: str, token: str, path: Path, sha: str, chunk: int, name: str) -> float:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token}"
    size = path.stat().st_size
    t = time.perf_counter()
    up = s.post(f"{url}/api/uploads", json={"filename": name, "size": size, "sha256": sha}).json()
    with open(path, "rb") as f:
        while up["status"] == "pending":
            f.seek(up["offset"])
            r = s.patch(f"{url}/api/uploads/{up['id']}?offset={up['offset']}", data=f.read(chunk),
                        headers={"Content-Type": "application/octet-stream"})
            r.raise_for_status()
            up = r.json()
    elapsed = time.perf_counter() - t
    assert up["status"] == "done" and not up["duplicate"], up
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--chunk-mb", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    size, chunk = args.size_mb * MB, args.chunk_mb * MB

    with tempfile.TemporaryDirectory(prefix="jaicat-bench-upload-") as tmp:
        tmp = Path(tmp)
        data_dir = tmp / "data"
        files = []
        for i in range(args.repeat):
            p = tmp / f"big{i}.jpg"
            files.append((p, make_file(p, size)))  # distinct bytes: no upload is a duplicate

        cp_times = [timed_cp(files[0][0], tmp / "copy.bin", fsync=False) for _ in range(args.repeat)]
        cp_sync_times = [timed_cp(files[0][0], tmp / "copy.bin", fsync=True) for _ in range(args.repeat)]
        (tmp / "copy.bin").unlink()

        port = free_port()
        env = dict(os.environ, JAICAT_WORKER="false", JAICAT_LOG_REQUESTS="false", HF_HUB_OFFLINE="1")
        cmd = [sys.executable, "-m", "jaicat", "--data-dir", str(data_dir)]
        proc = subprocess.Popen(cmd + ["serve", "--host", "127.0.0.1", "--port", str(port), "--no-zeroconf"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        url = f"http://127.0.0.1:{port}"
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
            # one small upload first so imports and thread pools are warm, then the baseline
            small = tmp / "small.jpg"
            upload(url, token, small, make_file(small, 2 * MB), chunk, "warm.jpg")
            base = rss_kb(worker)
            sampler = RssSampler(worker)
            sampler.start()
            cpu0 = cpu_seconds(worker)
            up_times = [upload(url, token, p, sha, chunk, f"big{i}.jpg") for i, (p, sha) in enumerate(files)]
            cpu = (cpu_seconds(worker) - cpu0) / len(files)
            sampler.stop_flag.set()
            sampler.join()
        finally:
            proc.terminate()
            proc.wait(timeout=30)

        def mbps(times):
            return size / MB / min(times)

        cp, cps, upl = mbps(cp_times), mbps(cp_sync_times), mbps(up_times)
        print(f"file: {args.size_mb} MB, chunks of {args.chunk_mb} MB, best of {args.repeat}")
        print(f"cp:               {cp:8.1f} MB/s")
        print(f"cp + fsync:       {cps:8.1f} MB/s")
        print(f"upload (loopback):{upl:8.1f} MB/s  = {100 * upl / cp:.0f}% of cp, "
              f"{100 * upl / cps:.0f}% of cp+fsync")
        print(f"server CPU per upload: {cpu:.2f} s ({size / MB / cpu:.0f} MB per CPU-second); "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"server RSS: baseline {base / 1024:.1f} MB, peak {sampler.peak / 1024:.1f} MB, "
              f"growth {(sampler.peak - base) / 1024:.1f} MB")
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
