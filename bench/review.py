"""Review-page latency: the suggester's answer for a page of waiting cards, computed at every read.

A household grown to --history decisions (512-d embeddings, bench/histories.py) is learned by the
engine; the catalogue holds --waiting photos waiting for review, with their tags, people and CLIP
embeddings. Measured through the product's own path (suggest.review.Review):
  page   GET /api/review's work for --page cards: the page query, their tags and people, and the
         engine's top-3 with reasons for the whole page at once (SuggestEngine.predict_many);
  engine the engine alone on the same pages, one card at a time (predict, the per-card path and the
         baseline) and batched (predict_many), interleaved so both see the same machine load; the
         answers must be identical;
  refresh what the server does after each decision: re-suggest the first 100 waiting cards and store
         the changed ones.

    .venv/bin/python bench/review.py                    # 50k decisions, 5k waiting, pages of 50
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from histories import household  # noqa: E402

from jaicat.config import load_settings  # noqa: E402
from jaicat.db import Face, Person, Photo, PhotoTag, Tag, database, open_db, vec_to_blob  # noqa: E402
from jaicat.suggest.catalogue import record, tags_and_people  # noqa: E402
from jaicat.suggest.engine import SuggestEngine  # noqa: E402
from jaicat.suggest.features import parse_record  # noqa: E402
from jaicat.suggest.review import Review  # noqa: E402
from jaicat.suggest.service import Suggester  # noqa: E402


def catalogue_waiting(objs: list[dict]) -> None:
    """Waiting photos as analysis leaves them: a row with its embedding, tags and named faces."""
    people: dict[str, int] = {}
    tags: dict[str, int] = {}
    with database.atomic():
        for i, obj in enumerate(objs):
            taken = dt.datetime.fromisoformat(obj["taken_at"]) if obj.get("taken_at") else None
            gps = obj.get("gps") or [None, None]
            p = Photo.create(sha256=f"{i:064x}", phash="0" * 16, original_filename=f"IMG_{i}.jpg", size=1000,
                             mime="image/jpeg", width=4000, height=3000, orientation=1, status="suggested",
                             root="inbox", path=f"IMG_{i}.jpg", taken_at=taken, caption=obj.get("caption"),
                             camera_model=obj.get("camera"), gps_lat=gps[0], gps_lon=gps[1],
                             embedding=vec_to_blob(np.asarray(obj["embedding"], dtype=np.float32))
                             if obj.get("embedding") else None, suggestions=[])
            for name, score in (obj.get("tags") or {}).items():
                if name not in tags:
                    tags[name] = Tag.named(name).id
                PhotoTag.create(photo=p.id, tag=tags[name], source="clip", score=score)
            for who in obj.get("people") or []:
                if who not in people:
                    people[who] = Person.create(name=who).id
                Face.create(photo=p.id, x=0.1, y=0.1, w=0.2, h=0.2, encoding=b"\0" * 1024, person=people[who])


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q / 100 * len(xs)))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--history", type=int, default=50000)
    ap.add_argument("--waiting", type=int, default=5000)
    ap.add_argument("--page", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)

    objs = household(args.seed, args.history + args.waiting, dim=512)
    engine = SuggestEngine()
    t0 = time.perf_counter()
    for i, obj in enumerate(objs[:args.history]):
        rec, folder = parse_record(obj, f"record {i}")
        engine.learn(rec, folder, update_weights=i >= args.history - 3000)
    learn_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp), env={})
        settings.ensure_dirs()
        open_db(settings.db_path)
        t0 = time.perf_counter()
        catalogue_waiting(objs[args.history:])
        cat_s = time.perf_counter() - t0
        suggester = Suggester(settings)
        suggester._engine = engine  # what a snapshot load gives: the engine after --history decisions
        suggester._folders_known = True
        review = Review(settings, suggester)

        truth = {i + 1: obj["folder"] for i, obj in enumerate(objs[args.history:])}  # photo ids from 1
        pages, cpu, cursor, shown, right = [], [], None, 0, 0
        one_cpu, many_cpu, differ = [], [], 0
        for _ in range(args.rounds):
            t0, c0 = time.perf_counter(), time.process_time()
            rows, cursor, count = review.queue(args.page, cursor)
            pages.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
            shown += sum(1 for p in rows if p.suggestions)
            right += sum(1 for p in rows if p.suggestions and p.suggestions[0]["folder"] == truth[p.id])
            tags, people = tags_and_people([p.id for p in rows])
            recs = [record(p, tags.get(p.id, {}), people.get(p.id, {})) for p in rows]
            engine.drop_caches()  # both start from a cold page cache, as after a decision
            c0 = time.process_time()
            one = [engine.predict(r, 3) for r in recs]
            one_cpu.append((time.process_time() - c0) * 1000 / len(recs))
            engine.drop_caches()
            c0 = time.process_time()
            many = engine.predict_many(recs, 3)
            many_cpu.append((time.process_time() - c0) * 1000 / len(recs))
            differ += sum(a != b for a, b in zip(one, many, strict=True))
        refresh, refresh_cpu = [], []
        for _ in range(max(5, args.rounds // 4)):
            t0, c0 = time.perf_counter(), time.process_time()
            review.refresh()
            refresh.append((time.perf_counter() - t0) * 1000)
            refresh_cpu.append((time.process_time() - c0) * 1000)
        database.close()

    print(f"review page latency: {args.history} decisions learned ({len(engine.known_folders())} folders, "
          f"512-d embeddings, learn {learn_s / args.history * 1000:.2f} ms each), {args.waiting} waiting photos "
          f"catalogued in {cat_s:.1f} s")
    print(f"  page of {args.page} cards (query + tags/people + top-3 with reasons): p50 {statistics.median(pages):.1f} ms, "
          f"p99 {pct(pages, 99):.1f} ms, per card {statistics.median(pages) / args.page:.2f} ms (CPU p50 "
          f"{statistics.median(cpu):.1f} ms, p99 {pct(cpu, 99):.1f} ms); "
          f"{shown}/{args.page * args.rounds} cards with a suggestion, top-1 right on {right}")
    print(f"  engine alone, CPU per card: one at a time (baseline) p50 {statistics.median(one_cpu):.3f} ms, "
          f"p99 {pct(one_cpu, 99):.3f} ms; batched page p50 {statistics.median(many_cpu):.3f} ms, "
          f"p99 {pct(many_cpu, 99):.3f} ms ({statistics.median(one_cpu) / statistics.median(many_cpu):.1f}x); "
          f"{differ} cards answered differently")
    print(f"  refresh after a decision (first 100 waiting, store changed): p50 {statistics.median(refresh):.1f} ms, "
          f"max {max(refresh):.1f} ms (CPU p50 {statistics.median(refresh_cpu):.1f} ms)")
    print(f"  (machine load average {__import__('os').getloadavg()[0]:.1f}: wall times include waiting for a CPU)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
