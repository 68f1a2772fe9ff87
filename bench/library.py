"""A household's whole library: N photos in the catalogue, the real server started on it, every
screen's API call timed.

    python bench/library.py --photos 100000 [--keep DIR] [--repeat 20]

The data directory is built directly in the catalogue (bulk SQL inserts in big transactions, no ML
run): folders over ten years in a household's naming style (`Trips/2019-07 Lake Garda`,
`Family/2021 Christmas`, `Receipts/2020`...), capture times in bursts, GPS for most, a tag vocabulary
(beach, sunset, dog, birthday...), captions, ~30 people with faces (`Amy H`), 512-d CLIP-sized
embeddings, decisions of history (half as many as photos, 50k at 100k), a few thousand photos waiting
for review and some in the trash. Every photo's file is a hard link to one tiny real JPEG (its size
is catalogued, so the start-up check finds every file in place). The suggester's snapshot is learned
once before the server starts, as it would be on a household's server that has run before.

Then `python -m jaicat --data-dir DIR serve` starts on a free loopback port; the start time is until
/api/health first answers. Each call runs `--repeat` times (a few different arguments where the
screen has them) and the last line is `key=value` pairs: p50/p95 in ms of every call, start_s,
rss_mb of the server (after the calls), build_s.
With `--keep DIR` the data directory is left there (ready for `jaicat --data-dir DIR serve`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests
from PIL import Image

from jaicat.config import load_settings
from jaicat.db import database, open_db

PEOPLE = ["Amy H", "Ben H", "Cara H", "Dan H", "Grandma Rose", "Grandpa Joe", "Ella M", "Finn M", "Gus P",
          "Hana K", "Ivy L", "Jack T", "Kai S", "Lena B", "Milo R", "Nora W", "Owen D", "Pia F", "Quinn A",
          "Ruby C", "Sam G", "Tess N", "Uma V", "Vic O", "Will E", "Xena Y", "Yuri Z", "Zoe Q", "Aunt Meg",
          "Uncle Tom"]
TAGS = ("beach sunset dog cat birthday cake candles snow mountain lake forest city street car bike garden "
        "flowers tree sky clouds food dinner party christmas tree-lights baby child portrait selfie "
        "screenshot receipt document boat river bridge museum church castle pool swimming football "
        "school concert night fireworks camping tent picnic horse bird").split()
TRIPS = ["Lake Garda", "Paris", "Rome", "Cornwall", "Alps", "Barcelona", "Lisbon", "Scotland", "Norway",
         "Crete", "Vienna", "Berlin", "Amsterdam", "Brittany", "Tuscany", "New York", "Iceland", "Prague"]
FAMILY = ["Christmas", "Easter", "Summer", "Garden", "Grandma visit", "New house", "Sunday walk", "Zoo"]
CAPTION = ["a {0} and a {1}", "a {0} on the {1}", "{0} at {1}", "a family by the {0}", "a {0} near the {1}"]
PLACES = {"Lake Garda": (45.6, 10.6), "Paris": (48.86, 2.35), "Rome": (41.9, 12.5), "Cornwall": (50.3, -5.0),
          "Alps": (46.5, 8.0), "Barcelona": (41.4, 2.17), "Lisbon": (38.7, -9.14), "Scotland": (56.8, -4.2),
          "Norway": (60.4, 5.3), "Crete": (35.2, 24.9), "Vienna": (48.2, 16.37), "Berlin": (52.5, 13.4),
          "Amsterdam": (52.37, 4.9), "Brittany": (48.2, -3.0), "Tuscany": (43.4, 11.2),
          "New York": (40.7, -74.0), "Iceland": (64.1, -21.9), "Prague": (50.08, 14.43)}
HOME = (51.5, -0.12)


def tiny_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 12), (120, 160, 200)).save(buf, "JPEG", quality=70)
    return buf.getvalue()


def events(n: int, rng: random.Random) -> list[tuple[str, dt.datetime, tuple | None, int]]:
    """(folder, start, (lat, lon) or None, photo count) for ten years of a household's events."""
    out, left = [], n
    years = list(range(2015, 2025))
    while left > 0:
        year = rng.choice(years)
        month = rng.randint(1, 12)
        start = dt.datetime(year, month, rng.randint(1, 28), rng.randint(7, 19), rng.randint(0, 59))
        kind = rng.random()
        if kind < 0.3:
            trip = rng.choice(TRIPS)
            folder, place, count = f"Trips/{year}-{month:02d} {trip}", PLACES[trip], rng.randint(40, 400)
        elif kind < 0.55:
            folder, place, count = f"Family/{year} {rng.choice(FAMILY)}", HOME, rng.randint(10, 120)
        elif kind < 0.7:
            who = rng.choice(PEOPLE[:4])
            folder = f"Family/Birthdays/{year} {who.split()[0]}"
            place, count = HOME, rng.randint(10, 80)
        elif kind < 0.78:
            folder, place, count = f"Receipts/{year}", None, rng.randint(5, 40)
        elif kind < 0.86:
            folder, place, count = f"Pets/{rng.choice(['Rex', 'Luna'])}/{year}", HOME, rng.randint(10, 60)
        elif kind < 0.93:
            folder, place, count = f"School/{year} {rng.choice(['Sports day', 'Concert', 'Play'])}", HOME, \
                rng.randint(10, 60)
        else:
            folder, place, count = f"Screenshots/{year}", None, rng.randint(5, 50)
        count = min(count, left)
        out.append((folder, start, place, count))
        left -= count
    return out


def build(n: int, data_dir: Path, seed: int = 7) -> dict:
    """Fill `data_dir` with a library of `n` photos; returns a few facts the calls use."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    settings = load_settings(data_dir=data_dir, env={}, zeroconf=False, worker=False)
    settings.ensure_dirs()
    (data_dir / "jaicat.toml").write_text("worker = false\nzeroconf = false\n", encoding="utf-8")
    open_db(settings.db_path)
    database.close()
    jpeg = tiny_jpeg()
    master = data_dir / "tmp" / "bench-master.jpg"
    con = sqlite3.connect(settings.db_path)
    con.execute("PRAGMA journal_mode=wal")
    con.execute("PRAGMA synchronous=off")
    now = dt.datetime(2025, 1, 10, 12, 0)
    photos, folders, files = [], set(), []
    n_review = max(50, min(3000, n // 30))
    n_trash = max(10, n // 200)
    plan = events(n - n_review, rng)
    pid = 0
    tag_ids = {t: i + 1 for i, t in enumerate(TAGS)}
    photo_tags, faces = [], []
    for folder, start, place, count in plan:
        folders.add(folder)
        t = start
        for k in range(count):
            pid += 1
            # bursts: seconds apart, then a gap of minutes to hours
            t += dt.timedelta(seconds=rng.randint(1, 8)) if rng.random() < 0.7 else \
                dt.timedelta(minutes=rng.randint(5, 240))
            name = (f"IMG_{pid % 10000:04d}.JPG" if rng.random() < 0.6
                    else f"PXL_{t:%Y%m%d_%H%M%S}{k % 1000:03d}.jpg")
            path = f"{folder}/{pid:06d}_{name}"
            gps = (place[0] + rng.gauss(0, 0.05), place[1] + rng.gauss(0, 0.05)) \
                if place and rng.random() < 0.85 else (None, None)
            words = rng.sample(TAGS, 2)
            if folder.startswith("Family/Birthdays"):
                words = ["birthday", rng.choice(["cake", "candles", "party"])]
            elif folder.startswith("Pets"):
                words = ["dog", rng.choice(["garden", "beach", "snow"])]
            caption = rng.choice(CAPTION).format(*words)
            photos.append((pid, t, gps, name, path, "library", "filed", caption))
            for w in set(words + rng.sample(TAGS, rng.randint(0, 3))):
                photo_tags.append((pid, tag_ids[w], "clip", round(rng.uniform(0.3, 0.9), 3)))
    for k in range(n_review):
        pid += 1
        t = now + dt.timedelta(minutes=k)
        name = f"IMG_{pid % 10000:04d}.HEIC"
        photos.append((pid, t, (HOME[0], HOME[1]) if k % 2 else (None, None), name,
                       f"{pid:06d}_{name}", "inbox", "suggested", f"a {rng.choice(TAGS)} in the garden"))
    for p in photos:  # ~45% of photos show people, with 1-3 faces each
        if rng.random() < 0.45:
            for who in rng.sample(range(len(PEOPLE)), rng.randint(1, 3)):
                faces.append((p[0], who + 1))
    trash = set(rng.sample(range(1, pid - n_review), n_trash))
    suggestions = json.dumps([{"folder": "Family/2024 Garden", "score": 0.71, "reason": "like 12 photos there"},
                              {"folder": "Pets/Rex/2024", "score": 0.2, "reason": "the dog"}])
    rows = []
    for i, t, (lat, lon), name, path, root, status, caption in photos:
        trashed = i in trash
        emb = nrng.standard_normal(512).astype("<f4")
        emb /= np.linalg.norm(emb)
        rows.append((i, f"{i:064x}", f"{rng.getrandbits(64):016x}", name, len(jpeg), "image/jpeg", 4032, 3024, 1,
                     t, "Apple", "iPhone 12", lat, lon, status, "trash" if trashed else root,
                     path, "Phone", t + dt.timedelta(days=1), caption, emb.tobytes(), t + dt.timedelta(days=1),
                     suggestions if status == "suggested" else None, t if trashed else None,
                     json.dumps({"root": root, "path": path, "status": status}) if trashed else None,
                     t + dt.timedelta(days=1), int(rng.random() < 0.02), "photo", 1))
        files.append(("trash" if trashed else root, path))
    cols = ("id sha256 phash original_filename size mime width height orientation taken_at camera_make "
            "camera_model gps_lat gps_lon status root path source_device created_at caption embedding "
            "analysed_at suggestions trashed_at trashed_from captioned_at favourite media faces_pass").split()
    with con:
        con.executemany(f"INSERT INTO photo ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                        [tuple(str(v) if isinstance(v, dt.datetime) else v for v in r) for r in rows])
        con.executemany("INSERT INTO folder (path, created_at) VALUES (?, ?)",
                        [(f, str(now)) for f in sorted(folders)])
        con.executemany("INSERT INTO tag (id, name) VALUES (?, ?)", [(i, t) for t, i in tag_ids.items()])
        con.executemany("INSERT INTO phototag (photo_id, tag_id, source, score, removed) VALUES (?, ?, ?, ?, 0)",
                        photo_tags)
        con.executemany("INSERT INTO person (id, name, created_at, hidden) VALUES (?, ?, ?, 0)",
                        [(i + 1, p, str(now)) for i, p in enumerate(PEOPLE)])
        enc = np.zeros(128, "<f4").tobytes()
        con.executemany("INSERT INTO face (photo_id, x, y, w, h, encoding, person_id, distance, confirmed,"
                        " not_face) VALUES (?, 0.4, 0.3, 0.1, 0.12, ?, ?, 0.35, ?, 0)",
                        [(p, enc, who, int(k % 5 == 0)) for k, (p, who) in enumerate(faces)])
        filed = [r for r in photos if r[5] == "library"]
        history = []
        for k in range(n // 2):
            i, t, _, name, path, *_ = filed[k % len(filed)]
            folder = path.rsplit("/", 1)[0]
            action = "accept" if k % 3 else "fix"
            history.append((i, action, json.dumps([{"folder": folder, "score": 0.8, "reason": "like these"}]),
                            folder, "inbox", path.rsplit("/", 1)[1], "library", path, "Phone",
                            str(t + dt.timedelta(days=1))))
        con.executemany("INSERT INTO decision (photo_id, action, suggested, chosen_folder, from_root, from_path,"
                        " to_root, to_path, device, created_at, undone) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                        history)
    con.close()
    for f in folders:
        (settings.library / f).mkdir(parents=True, exist_ok=True)
    for k, (root, path) in enumerate(files):
        if k % 60000 == 0:  # ext4 allows 65000 links to one file
            master.unlink(missing_ok=True)
            master.write_bytes(jpeg)
        dest = settings.root_path(root) / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.link(master, dest)
    master.unlink()
    # the suggester's snapshot, as a server that ran before has it
    from jaicat.suggest.service import Suggester

    open_db(settings.db_path)
    s = Suggester(settings)
    s.engine()
    s._dirty = True
    s.save_now()
    database.close()
    return {"folders": sorted(folders), "people": len(PEOPLE), "ids": pid}


# --- the server --------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env() -> dict:
    e = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    e.pop("JAICAT_DATA_DIR", None)
    e.pop("JAICAT_CONFIG", None)
    return e


def start_server(data_dir: Path) -> tuple[subprocess.Popen, str, float, Path]:
    port = free_port()
    log_path = data_dir.parent / f"bench-server-{port}.log"
    log = open(log_path, "wb")
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "jaicat", "--data-dir", str(data_dir), "serve", "--host",
                             "127.0.0.1", "--port", str(port), "--no-zeroconf"],
                            stdout=log, stderr=subprocess.STDOUT, env=env())
    log.close()
    url = f"http://127.0.0.1:{port}"
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{log_path.read_text(errors='replace')}")
        try:
            if requests.get(url + "/api/health", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        if time.monotonic() - t0 > 300:
            proc.kill()
            raise SystemExit("server did not answer in 300 s")
        time.sleep(0.05)
    return proc, url, time.monotonic() - t0, log_path


def pair(data_dir: Path, url: str) -> requests.Session:
    out = subprocess.run([sys.executable, "-m", "jaicat", "--data-dir", str(data_dir), "pair", "--no-qr"],
                         capture_output=True, text=True, env=env(), timeout=120, check=True).stdout
    code = re.search(r"Pairing code: ([A-Z0-9]{6})", out)[1]
    r = requests.post(url + "/api/pair", json={"code": code, "name": "bench"}, timeout=30)
    r.raise_for_status()
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {r.json()['token']}"
    return s


def rss_mb(pid: int) -> float:
    """Resident memory of the server and its children (gunicorn's worker), in MiB."""
    total = 0
    pids = [pid]
    try:
        pids += [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return round(total / 1024, 1)


def calls(facts: dict, rng: random.Random) -> dict[str, list[str]]:
    """Each screen's API call, with a few different arguments where it has them."""
    folders = rng.sample(facts["folders"], min(10, len(facts["folders"])))
    months = [f"{y}-{m:02d}" for y in (2016, 2019, 2022, 2024) for m in (3, 8)]
    ids = [rng.randint(1, facts["ids"]) for _ in range(10)]
    return {
        "newest": ["/api/photos?limit=60"],
        "newest_page5": ["/api/photos?limit=60&cursor={after5}"],
        "folder": [f"/api/photos?limit=60&folder={requests.utils.quote(f)}" for f in folders],
        "timeline": ["/api/timeline"],
        "timeline_month": [f"/api/timeline/photos?limit=60&until={m}" for m in months],
        "timeline_deep": ["/api/timeline/photos?limit=60&cursor={deep}"],
        "places": ["/api/places"],
        "search_text": ["/api/search?q=dog+on+the+beach&limit=50", "/api/search?q=birthday+cake&limit=50",
                        "/api/search?q=sunset+at+the+lake&limit=50", "/api/search?q=lisbon&limit=50",
                        "/api/search?q=trips&limit=50", "/api/search?q=kite+flying&limit=50"],
        "search_tag": ["/api/search?q=sunset&limit=50", "/api/search?q=tag:dog&limit=50",
                       "/api/photos?tag=beach&limit=60"],
        "search_person": ["/api/search?q=Amy+H&limit=50", "/api/search?q=person:%22Grandma+Rose%22&limit=50",
                          "/api/photos?person=3&limit=60"],
        "review": ["/api/review?limit=20"],
        "folder_tree": ["/api/folders"],
        "tags": ["/api/tags"],
        "people": ["/api/people"],
        "person": ["/api/people/1", "/api/people/7"],
        "detail": [f"/api/photos/{i}" for i in ids],
    }


def measure(session: requests.Session, url: str, facts: dict, repeat: int) -> dict[str, tuple[float, float]]:
    rng = random.Random(3)
    out = {}
    after5 = ""
    for _ in range(5):  # the cursor of the fifth page of newest photos
        page = session.get(url + f"/api/photos?limit=60&cursor={after5}", timeout=120).json()
        after5 = page.get("next_cursor") or after5
    # a timeline page deep in the library (years back): the keyset cursor a scroll that far reaches
    deep = session.get(url + "/api/timeline/photos?limit=60&until=2018-06", timeout=120).json()["next_cursor"] or ""
    for name, paths in calls(facts, rng).items():
        times = []
        for k in range(repeat):
            path = paths[k % len(paths)].format(after5=after5, deep=requests.utils.quote(deep))
            t0 = time.perf_counter()
            r = session.get(url + path, timeout=300)
            times.append((time.perf_counter() - t0) * 1000)
            if r.status_code != 200:
                raise SystemExit(f"{path}: {r.status_code} {r.text[:300]}")
        times.sort()
        out[name] = (statistics.median(times), times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))])
        print(f"{name:16s} p50 {out[name][0]:8.1f} ms   p95 {out[name][1]:8.1f} ms", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--keep", type=Path, help="build the data directory here and leave it")
    ap.add_argument("--reuse", action="store_true", help="with --keep: use the data directory already there")
    args = ap.parse_args()
    tmp = None
    if args.keep:
        data_dir = args.keep.resolve()
        if data_dir.exists() and not args.reuse and any(data_dir.iterdir()):
            raise SystemExit(f"{data_dir} is not empty (add --reuse to measure it again)")
    else:
        tmp = tempfile.mkdtemp(prefix="jaicat-library-")
        data_dir = Path(tmp) / "data"
    try:
        t0 = time.monotonic()
        facts_path = data_dir / "bench-library.json"
        if args.reuse and facts_path.exists():
            facts = json.loads(facts_path.read_text())
        else:
            facts = build(args.photos, data_dir)
            facts_path.write_text(json.dumps(facts))
        build_s = time.monotonic() - t0
        print(f"built {args.photos} photos in {build_s:.1f} s", flush=True)
        proc, url, start_s, log_path = start_server(data_dir)
        print(f"server answered after {start_s:.2f} s", flush=True)
        try:
            session = pair(data_dir, url)
            figures = measure(session, url, facts, args.repeat)
            rss = rss_mb(proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        pairs = [f"photos={args.photos}", f"build_s={build_s:.1f}", f"start_s={start_s:.2f}", f"rss_mb={rss}"]
        for name, (p50, p95) in figures.items():
            pairs += [f"{name}_p50={p50:.0f}", f"{name}_p95={p95:.0f}"]
        pairs.append(f"worst_p95={max(p95 for _, p95 in figures.values()):.0f}")
        print(" ".join(pairs))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
