"""Upload throughput over loopback against the real server, next to `cp` of the same file.

    python bench/upload.py [--size-mb 200] [--chunk-mb N] [--repeat 3]

The file is a real JPEG followed by random bytes up to the size (decoders stop at the JPEG's end, so
it ingests like a photo while being as big as a burst video). The server is `jaicat serve` in a
subprocess (gunicorn, threaded worker, analysis worker off). The client speaks the real protocol on
one keep-alive connection (POST, then PATCH chunks at offsets with the PWA's adaptive chunk sizes
unless --chunk-mb is given) and sends each chunk with sendfile, so the figure is the server's and
not a Python client's copying. Prints best and median MB/s for the upload (create -> last chunk
answered, which includes fsync, sha256 verification and ingest), for `cp` and `cp` + fsync of the
same file, and for sha256 of it on one core (the ceiling for anything that verifies every byte:
SHA-256 cannot be split across cores), each run interleaved with the others so machine noise hits
all alike; then the server worker's CPU time per upload and its peak RSS growth during the uploads
(sampled every 10 ms from /proc). Wall-clock figures need an idle machine; CPU time is steadier.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import io
import json
import os
import re
import shutil
import socket
import statistics
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


# The PWA's chunk sizes (pwa/js/uploader.js): start at 512 KiB, double while a chunk takes under
# 1.5 s, halve when one takes over 6 s, between 256 KiB and 8 MiB.
PWA_CHUNK_START, PWA_CHUNK_MIN, PWA_CHUNK_MAX = 512 * 1024, 256 * 1024, 8 * MB


def send_chunk(conn: http.client.HTTPConnection, token: str, upload_id: str, offset: int,
               f, n: int) -> dict:
    """PATCH one chunk: the headers, then the bytes straight from the page cache (sendfile)."""
    conn.putrequest("PATCH", f"/api/uploads/{upload_id}?offset={offset}")
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Content-Type", "application/octet-stream")
    conn.putheader("Content-Length", str(n))
    conn.endheaders()
    sent = 0
    while sent < n:
        k = os.sendfile(conn.sock.fileno(), f.fileno(), offset + sent, n - sent)
        if not k:
            raise ConnectionError(f"server closed the connection at {offset + sent}")
        sent += k
    r = conn.getresponse()
    body = json.loads(r.read())
    if r.status != 200:
        raise RuntimeError(f"chunk at {offset}: {r.status} {body}")
    return body


def upload(port: int, token: str, path: Path, sha: str, chunk: int | None, name: str) -> float:
    """Create -> chunks -> done (fsync, sha256 check, ingest) on one keep-alive connection.
    `chunk` None follows the PWA's adaptive sizes."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    size = path.stat().st_size
    t = time.perf_counter()
    conn.request("POST", "/api/uploads", body=json.dumps({"filename": name, "size": size, "sha256": sha}),
                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    up = json.loads(conn.getresponse().read())
    step = chunk or PWA_CHUNK_START
    with open(path, "rb") as f:
        while up["status"] == "pending":
            n = min(step, size - up["offset"])
            t0 = time.perf_counter()
            up = send_chunk(conn, token, up["id"], up["offset"], f, n)
            took = time.perf_counter() - t0
            if chunk is None and n == step and took < 1.5:
                step = min(PWA_CHUNK_MAX, step * 2)
            elif chunk is None and took > 6:
                step = max(PWA_CHUNK_MIN, step // 2)
    elapsed = time.perf_counter() - t
    conn.close()
    assert up["status"] == "done" and not up["duplicate"], up
    return elapsed


def sha256_seconds(path: Path) -> float:
    """One core hashing the (page-cached) file: the floor for any upload that verifies every byte."""
    t = time.perf_counter()
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while buf := f.read(8 * MB):
            h.update(buf)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--chunk-mb", type=int, default=None,
                    help="fixed chunk size; default: the PWA's adaptive sizes (512 KiB doubling to 8 MiB)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    size = args.size_mb * MB
    chunk = args.chunk_mb * MB if args.chunk_mb else None

    with tempfile.TemporaryDirectory(prefix="jaicat-bench-upload-") as tmp:
        tmp = Path(tmp)
        data_dir = tmp / "data"
        files = []
        for i in range(args.repeat):
            p = tmp / f"big{i}.jpg"
            files.append((p, make_file(p, size)))  # distinct bytes: no upload is a duplicate

        port = free_port()
        env = dict(os.environ, JAICAT_WORKER="false", JAICAT_LOG_REQUESTS="false", HF_HUB_OFFLINE="1")
        cmd = [sys.executable, "-m", "jaicat", "--data-dir", str(data_dir)]
        proc = subprocess.Popen(cmd + ["serve", "--host", "127.0.0.1", "--port", str(port), "--no-zeroconf"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        url = f"http://127.0.0.1:{port}"
        times: dict[str, list[float]] = {"cp": [], "cp + fsync": [], "sha256 (1 core)": [], "upload": []}
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
            upload(port, token, small, make_file(small, 2 * MB), chunk, "warm.jpg")
            base = rss_kb(worker)
            sampler = RssSampler(worker)
            sampler.start()
            cpu_up = cpu_client = 0.0
            # Interleaved, so a noisy neighbour slows every method alike rather than one of them.
            for i, (p, sha) in enumerate(files):
                times["cp"].append(timed_cp(p, tmp / "copy.bin", fsync=False))
                times["cp + fsync"].append(timed_cp(p, tmp / "copy.bin", fsync=True))
                times["sha256 (1 core)"].append(sha256_seconds(p))
                cpu0, client0 = cpu_seconds(worker), time.process_time()
                times["upload"].append(upload(port, token, p, sha, chunk, f"big{i}.jpg"))
                cpu_up += cpu_seconds(worker) - cpu0
                cpu_client += time.process_time() - client0
            cpu = cpu_up / len(files)
            sampler.stop_flag.set()
            sampler.join()
            (tmp / "copy.bin").unlink()
        finally:
            proc.terminate()
            proc.wait(timeout=30)

        def rate(t: float) -> float:
            return size / MB / t

        sizes = f"chunks of {args.chunk_mb} MB" if chunk else "PWA chunk sizes (512 KiB doubling to 8 MiB)"
        print(f"file: {args.size_mb} MB, {sizes}, {args.repeat} runs interleaved")
        print(f"{'':18}{'best MB/s':>10}{'median MB/s':>13}")
        for name, ts in times.items():
            print(f"{name + ':':18}{rate(min(ts)):10.1f}{rate(statistics.median(ts)):13.1f}")
        up, cp, cps = (rate(min(times[k])) for k in ("upload", "cp", "cp + fsync"))
        print(f"upload (best) = {100 * up / cp:.0f}% of cp, {100 * up / cps:.0f}% of cp+fsync, "
              f"{100 * up / rate(min(times['sha256 (1 core)'])):.0f}% of sha256 alone")
        print(f"server CPU per upload: {cpu:.2f} s ({size / MB / cpu:.0f} MB per CPU-second), client "
              f"{cpu_client / len(files):.2f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"server RSS: baseline {base / 1024:.1f} MB, peak {sampler.peak / 1024:.1f} MB, "
              f"growth {(sampler.peak - base) / 1024:.1f} MB")
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
