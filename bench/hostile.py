"""The server on a hostile home network: a paired phone's latency under attack, memory under big
bodies and a pixel bomb, and the parallel-upload load test.

    python bench/hostile.py [--stalled 300] [--sockets 300] [--requests 200] [--chunked-mb 1024]
                            [--phones 8] [--photos 500] [--pngs 8] [--videos 4]
                            [--skip load,bomb,decode,...] [--server-path DIR]

The server is `jaicat serve` in a subprocess (analysis worker off) on loopback; `--server-path`
runs another checkout's server (its `server/` directory first on PYTHONPATH) for a before/after.
Prints, each beside its goal:
- p50/p95 of a paired phone's `GET /api/photos` alone, then while `--stalled` connections stall
  (half send `GET /api/hea` and stop, half a JSON head and a few body bytes; any the server closes is
  reopened) and `--sockets` websockets idle (8 from each paired device, the most one device may hold:
  how many the server kept open and how many it refused is printed too). Goal: p95 < 200 ms; a request over 10 s counts as failed.
- the serving process's peak memory growth (VmHWM) for a `--chunked-mb` chunked JSON body to
  `POST /api/pair` (no token), and for the same size streamed as a chunked upload (goal < 20 MB);
- its peak growth for the 16-bit 15000 x 15000 PNG (goal < 1 GB);
- decode bombs just under the limits, at once, each on a fresh server: the peak RSS for `--pngs`
  16-bit 8000 x 8000 PNGs (121 KB each) and for `--videos` 8000 x 8000 MPEG-4 videos (goal < 1.5 GB,
  every upload stored or refused with 413/503 and a reason);
- the load test: `--phones` devices each uploading `--photos` small JPEGs in parallel, every photo
  sent by two phones at once; 5xx count (goal 0) and photos stored (goal: each exactly once).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import websocket

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from fixtures.hostile import (  # noqa: E402
    big_video,
    jpeg,
    mp4_variant,
    peak_rss_kb,
    pixel_bomb_png,
    png_variant,
)

MB = 1024 * 1024
PHONE_TIMEOUT = 10.0


class Server:
    def __init__(self, tmp: Path, server_path: str | None):
        self.data_dir = tmp / "data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ, JAICAT_WORKER="false", JAICAT_LOG_REQUESTS="false", HF_HUB_OFFLINE="1")
        if server_path:
            self.env["PYTHONPATH"] = str(Path(server_path) / "server")
        self.cmd = [sys.executable, "-m", "jaicat", "--data-dir", str(self.data_dir)]
        self.log = open(tmp / "server.log", "wb")
        self.proc = subprocess.Popen(
            self.cmd + ["serve", "--host", "127.0.0.1", "--port", str(self.port), "--no-zeroconf"],
            stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        for _ in range(600):
            try:
                if requests.get(f"{self.url}/api/health", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        self.worker = int(Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()[0])

    def pair(self, name: str) -> str:
        out = subprocess.run(self.cmd + ["pair", "--no-qr"], capture_output=True, text=True, env=self.env).stdout
        code = re.search(r"Pairing code: (\w+)", out).group(1)
        r = requests.post(f"{self.url}/api/pair", json={"code": code, "name": name}, timeout=30)
        return r.json()["token"]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentiles(times: list[float]) -> str:
    if not times:
        return "no request answered"
    q = statistics.quantiles(times, n=20) if len(times) > 1 else [times[0]] * 19
    return f"p50 {statistics.median(times) * 1000:7.1f} ms   p95 {q[18] * 1000:7.1f} ms"


def phone_latencies(server: Server, token: str, n: int) -> tuple[list[float], int]:
    times, failed = [], 0
    s = requests.Session()
    for _ in range(n):
        t = time.monotonic()
        try:
            r = s.get(f"{server.url}/api/photos?limit=20", headers={"Authorization": f"Bearer {token}"},
                      timeout=PHONE_TIMEOUT)
            if r.status_code != 200:
                failed += 1
                continue
            times.append(time.monotonic() - t)
        except requests.RequestException:
            failed += 1
    return times, failed


class Staller(threading.Thread):
    """Keeps `n` connections stalled mid-request, reopening any the server closes."""

    HEADS = (b"GET /api/hea",
             b"POST /api/pair HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")

    def __init__(self, port: int, n: int):
        super().__init__(daemon=True)
        self.port, self.n, self.stop_flag = port, n, threading.Event()
        self.socks: list[socket.socket | None] = [None] * n
        self.reopened = 0

    def _open(self, i: int) -> None:
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            s.sendall(self.HEADS[i % 2])
            s.setblocking(False)
            self.socks[i] = s
        except OSError:
            self.socks[i] = None

    def run(self) -> None:
        for i in range(self.n):
            self._open(i)
        while not self.stop_flag.wait(0.5):
            for i, s in enumerate(self.socks):
                alive = s is not None
                if alive:
                    try:
                        alive = s.recv(4096) != b""
                    except BlockingIOError:
                        continue
                    except OSError:
                        alive = False
                if not alive:
                    if s is not None:
                        s.close()
                    self.reopened += 1
                    self._open(i)

    def close(self) -> None:
        self.stop_flag.set()
        self.join()
        for s in self.socks:
            if s is not None:
                s.close()


def open_websockets(server: Server, tokens: list[str], n: int) -> tuple[list, int, int]:
    opened, refused, failed = [], 0, 0
    for i in range(n):
        try:
            opened.append(websocket.create_connection(
                server.url.replace("http", "ws") + "/ws", header=[f"Authorization: Bearer {tokens[i % len(tokens)]}"],
                timeout=5))
        except websocket.WebSocketBadStatusException:
            refused += 1
        except (OSError, websocket.WebSocketException):
            failed += 1
    return opened, refused, failed


def chunked_body_growth(server: Server, path: str, total: int, headers: str) -> tuple[float, int]:
    """Peak memory growth (MB) of the serving process while `total` bytes go out as a chunked body to
    `path`, and how many bytes the server took before it stopped reading."""
    before = peak_rss_kb(server.worker)
    s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    s.sendall(f"{path}\r\nHost: 127.0.0.1\r\n{headers}Transfer-Encoding: chunked\r\n\r\n".encode())
    block = 1 * MB
    piece = b"%x\r\n" % block + b"\0" * block + b"\r\n"
    sent = 0
    try:
        while sent < total:
            s.sendall(piece)
            sent += block
        s.sendall(b"0\r\n\r\n")
        s.settimeout(120)
        s.recv(4096)
    except OSError:
        pass
    s.close()
    time.sleep(0.5)
    return (peak_rss_kb(server.worker) - before) / 1024, sent


def bomb_growth(server: Server, token: str) -> tuple[float, str]:
    data = pixel_bomb_png(15000, 15000)
    auth = {"Authorization": f"Bearer {token}"}
    before = peak_rss_kb(server.worker)
    up = requests.post(f"{server.url}/api/uploads", json={"filename": "bomb.png", "size": len(data)},
                       headers=auth, timeout=30).json()
    r = requests.patch(f"{server.url}/api/uploads/{up['id']}?offset=0", data=data, timeout=600,
                       headers={**auth, "Content-Type": "application/octet-stream"})
    return (peak_rss_kb(server.worker) - before) / 1024, f"{r.status_code} {r.json().get('error', r.json().get('status'))}"


def parallel_decodes(tmp: Path, server_path: str | None, blobs: list[bytes], name: str) -> tuple[float, dict]:
    """Send `blobs` at once, each from its own paired device, to a fresh server (its own data dir, so its
    peak is theirs alone); returns the serving process's peak RSS (VmHWM, MB) and the answers
    ({"200 done": n, "503 decode_busy": m})."""
    tmp.mkdir(parents=True, exist_ok=True)
    server = Server(tmp, server_path)
    try:
        tokens = [server.pair(f"decoder {i}") for i in range(len(blobs))]

        def send(job: tuple[str, bytes]) -> str:
            token, blob = job
            auth = {"Authorization": f"Bearer {token}"}
            up = requests.post(f"{server.url}/api/uploads", json={"filename": name, "size": len(blob),
                                                                  "sha256": hashlib.sha256(blob).hexdigest()},
                               headers=auth, timeout=60).json()
            r = requests.patch(f"{server.url}/api/uploads/{up['id']}?offset=0", data=blob, timeout=600,
                               headers={**auth, "Content-Type": "application/octet-stream"})
            return f"{r.status_code} {r.json().get('error') or r.json().get('status')}"

        with ThreadPoolExecutor(len(blobs)) as pool:
            answers = list(pool.map(send, zip(tokens, blobs, strict=True)))
        return peak_rss_kb(server.worker) / 1024, {a: answers.count(a) for a in sorted(set(answers))}
    finally:
        server.stop()


def load_test(server: Server, phones: int, photos: int) -> dict:
    tokens = [server.pair(f"loader {i}") for i in range(phones)]
    unique = phones * photos // 2
    datas = [jpeg(i) + hashlib.sha256(str(i).encode()).digest() for i in range(unique)]  # distinct bytes
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def phone(k: int) -> None:
        s = requests.Session()
        auth = {"Authorization": f"Bearer {tokens[k]}"}
        mine = [i for i in range(unique) if i % phones == k or (i + 1) % phones == k]  # each photo twice
        for i in mine:
            data = datas[i]
            sha = hashlib.sha256(data).hexdigest()
            codes = []
            r = s.post(f"{server.url}/api/uploads", json={"filename": f"IMG_{i:05d}.jpg", "size": len(data),
                                                           "sha256": sha}, headers=auth, timeout=60)
            codes.append(r.status_code)
            if r.status_code == 201 and r.json()["status"] == "pending":
                r = s.patch(f"{server.url}/api/uploads/{r.json()['id']}?offset=0", data=data, timeout=60,
                            headers={**auth, "Content-Type": "application/octet-stream"})
                codes.append(r.status_code)
            with lock:
                for c in codes:
                    statuses[c] = statuses.get(c, 0) + 1

    t = time.monotonic()
    with ThreadPoolExecutor(phones) as pool:
        list(pool.map(phone, range(phones)))
    wall = time.monotonic() - t
    items, cursor = [], None
    s = requests.Session()
    while True:
        r = s.get(f"{server.url}/api/photos", params={"limit": 200, **({"cursor": cursor} if cursor else {})},
                  headers={"Authorization": f"Bearer {tokens[0]}"}, timeout=60).json()
        items += r["items"]
        cursor = r.get("next_cursor")
        if not cursor:
            break
    shas = [p["sha256"] for p in items]
    inbox_files = sum(1 for p in (server.data_dir / "inbox").rglob("*") if p.is_file())
    return {"uploads": phones * photos, "unique": unique, "statuses": statuses, "wall_s": wall,
            "catalogued": len(shas), "distinct": len(set(shas)), "inbox_files": inbox_files}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stalled", type=int, default=300)
    ap.add_argument("--sockets", type=int, default=300)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--chunked-mb", type=int, default=1024)
    ap.add_argument("--phones", type=int, default=8)
    ap.add_argument("--photos", type=int, default=500)
    ap.add_argument("--pngs", type=int, default=8, help="16-bit 8000 x 8000 PNGs sent at once (decode)")
    ap.add_argument("--videos", type=int, default=4, help="8000 x 8000 MPEG-4 videos sent at once (decode)")
    ap.add_argument("--skip", default="", help="comma-separated: latency,chunked,bomb,decode,load")
    ap.add_argument("--server-path", default=None, help="run the server of another checkout (before/after)")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    with tempfile.TemporaryDirectory(prefix="jaicat-bench-hostile-") as tmp:
        server = Server(Path(tmp), args.server_path)
        try:
            token = server.pair("phone")
            print(f"server {args.server_path or ROOT}; serving process {server.worker}")
            if "latency" not in skip:
                phone_latencies(server, token, 20)  # warm
                times, failed = phone_latencies(server, token, args.requests)
                print(f"phone alone:                         {percentiles(times)}   failed {failed}")
                staller = Staller(server.port, args.stalled)
                staller.start()
                time.sleep(1.0)
                from jaicat.web.ws import SOCKETS_PER_DEVICE

                tokens = [server.pair(f"idle {i}") for i in range(-(-args.sockets // SOCKETS_PER_DEVICE))]
                opened, refused, ws_failed = open_websockets(server, tokens, args.sockets)
                times, failed = phone_latencies(server, token, args.requests)
                print(f"phone, {args.stalled} stalled + {args.sockets} websockets: {percentiles(times)}   "
                      f"failed {failed}   (goal p95 < 200 ms)")
                print(f"  websockets open {len(opened)}, refused {refused}, failed {ws_failed}; "
                      f"stalled connections reopened after the server closed them: {staller.reopened}")
                staller.close()
                for w in opened:
                    w.close()
            if "chunked" not in skip:
                total = args.chunked_mb * MB
                grow, sent = chunked_body_growth(server, "POST /api/pair HTTP/1.1", total,
                                                 "Content-Type: application/json\r\n")
                print(f"{args.chunked_mb} MiB chunked JSON to /api/pair:   peak growth {grow:7.1f} MB, "
                      f"{sent / MB:.0f} MiB sent before the server stopped reading   (goal < 20 MB)")
                auth = {"Authorization": f"Bearer {token}"}
                up = requests.post(f"{server.url}/api/uploads", json={"filename": "big.bin", "size": total},
                                   headers=auth, timeout=30).json()
                if "id" in up:
                    grow, sent = chunked_body_growth(server, f"PATCH /api/uploads/{up['id']}?offset=0 HTTP/1.1",
                                                     total, f"Authorization: Bearer {token}\r\n")
                    print(f"{args.chunked_mb} MiB chunked upload chunk:       peak growth {grow:7.1f} MB, "
                          f"{sent / MB:.0f} MiB sent   (goal < 20 MB)")
                else:
                    print(f"chunked upload not created: {up}")
            if "bomb" not in skip:
                grow, outcome = bomb_growth(server, token)
                print(f"16-bit 15000x15000 PNG (430 KB):     peak growth {grow:7.1f} MB, answer {outcome}   "
                      f"(goal < 1024 MB)")
            if "decode" not in skip:
                png = pixel_bomb_png(8000, 8000)
                peak, answers = parallel_decodes(Path(tmp) / "pngs", args.server_path,
                                                 [png_variant(png, i) for i in range(args.pngs)], "deep.png")
                print(f"{args.pngs} x 16-bit 8000x8000 PNG ({len(png) // 1024} KB) at once: peak RSS {peak:7.0f} MB, "
                      f"answers {json.dumps(answers)}   (goal < 1536 MB, each stored or 413/503)")
                mp4 = big_video(8000, 8000)
                peak, answers = parallel_decodes(Path(tmp) / "videos", args.server_path,
                                                 [mp4_variant(mp4, i) for i in range(args.videos)], "big.mp4")
                print(f"{args.videos} x 8000x8000 MPEG-4 ({len(mp4) // 1024} KB) at once: peak RSS {peak:7.0f} MB, "
                      f"answers {json.dumps(answers)}   (goal < 1536 MB, each stored or 413/503)")
            if "load" not in skip:
                res = load_test(server, args.phones, args.photos)
                fives = sum(n for c, n in res["statuses"].items() if c >= 500)
                print(f"load: {args.phones} phones x {args.photos} uploads ({res['unique']} photos, each sent by two "
                      f"phones at once) in {res['wall_s']:.0f} s: statuses {json.dumps(res['statuses'])}, "
                      f"5xx {fives}; catalogued {res['catalogued']} ({res['distinct']} distinct), inbox files "
                      f"{res['inbox_files']}   (goal: 0 5xx, each photo once)")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
