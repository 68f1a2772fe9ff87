"""Review-page latency: the suggester's answer for a page of waiting cards, computed at every read.

A household grown to --history decisions (512-d embeddings, bench/histories.py) is learned by the
engine; the catalogue holds --waiting photos waiting for review, with their tags, people and CLIP
embeddings, and the history's photos as filed rows. Measured through the product's own path (suggest.review.Review):
  page   GET /api/review's work for --page cards: the page query, their tags and people, and the
         engine's top-3 with reasons for the whole page at once (SuggestEngine.predict_many);
  engine the engine alone on the same pages, one card at a time (predict, the per-card path and the
         baseline) and batched (predict_many), interleaved so both see the same machine load; the
         answers must be the same (same folders, but for exact ties, scores within rtol 1e-9);
  refresh what the server does after each decision: re-suggest the first 100 waiting cards and store
         the changed ones.

Page, batched engine and refresh run both ways, interleaved, on the same pages: "before" with numpy's
BLAS threads as numpy starts them (and, for the page, the queue's query as it was: one statement that
read every photo of the catalogue), "now" on the calling thread as every jaicat process runs
(runtime.one_blas_thread); their answers must be identical. CPU is the whole process's over the call
and the SETTLE after it, so a BLAS thread left spinning by a call is charged to that call. The same
switch is timed on torch's and ONNX Runtime's own thread pools, which it must not slow.

    .venv/bin/python bench/review.py                    # 50k decisions, 5k waiting, pages of 50
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))

from histories import household  # noqa: E402

from jaicat.config import load_settings  # noqa: E402
from jaicat.runtime import one_blas_thread  # noqa: E402
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


def catalogue_filed(objs: list[dict]) -> None:
    """The history's photos as filed rows (with their embeddings): a real catalogue holds them too."""
    rows = [{"sha256": f"f{i:063x}", "phash": "0" * 16, "original_filename": f"OLD_{i}.jpg", "size": 1000,
             "mime": "image/jpeg", "width": 4000, "height": 3000, "orientation": 1, "status": "filed",
             "root": "library", "path": f"{obj['folder']}/OLD_{i}.jpg",
             "embedding": vec_to_blob(np.asarray(obj["embedding"], dtype=np.float32)) if obj.get("embedding") else None}
            for i, obj in enumerate(objs)]
    with database.atomic():
        for i in range(0, len(rows), 500):
            Photo.insert_many(rows[i:i + 500]).execute()


def review_queue_before(limit: int, cursor: str | None = None):
    """The review page's query as it was: one statement ordered by a computed rank, which SQLite
    answered through the Live Photo index, reading every photo of the catalogue."""
    rank = (Photo.status != "suggested").cast("INTEGER")
    waiting = Photo.status.in_(("suggested", "inbox")) & Photo.trashed_at.is_null() & Photo.live_of.is_null()
    q = Photo.select(Photo, rank.alias("rank")).where(waiting)
    if cursor is not None:
        r, last = (int(x) for x in cursor.split(":"))
        q = q.where((rank > r) | ((rank == r) & (Photo.id > last)))
    rows = list(q.order_by(rank, Photo.id).limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    count = Photo.select().where(waiting).count()
    return rows, (f"{rows[-1].rank}:{rows[-1].id}" if more and rows else None), count


def page_before(review: Review, limit: int, cursor: str | None):
    """Review.queue as it was: the query above, then the same suggestions."""
    rows, nxt, count = review_queue_before(limit, cursor)
    return review.with_suggestions(rows), nxt, count


def same(a: list, b: list) -> bool:
    """One card's suggestions (engine Suggestions) are the same: folder by folder (two may only trade
    places when their scores tie), scores equal up to rounding (rtol 1e-9), the same reason."""
    def close(x: float, y: float) -> bool:
        return abs(x - y) <= 1e-12 + 1e-9 * abs(y)

    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if not close(x.score, y.score):
            return False
        if x.folder != y.folder and not any(s.folder == x.folder and close(s.score, x.score) for s in b):
            return False
        if x.folder == y.folder and x.reason != y.reason:
            return False
    return True


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q / 100 * len(xs)))]


SETTLE = 0.15  # seconds after a call whose CPU is still charged to it (OpenBLAS spins ~0.1 s)


def measured(fn, *args):
    """(fn(*args), wall ms, CPU ms of the whole process over the call and the SETTLE after it)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args)
    wall = (time.perf_counter() - t0) * 1000
    time.sleep(SETTLE)
    return out, wall, (time.process_time() - c0) * 1000


def blas_threads() -> int:
    return max(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")


def use(way: str, default: int) -> None:
    """Switch numpy's BLAS: "before" as numpy starts it, "now" as jaicat runs it (main thread)."""
    if way == "now":
        one_blas_thread()
    else:
        threadpool_limits(limits=default, user_api="blas")


def other_pools(default: int, rounds: int = 30) -> dict:
    """Wall ms of torch's and ONNX Runtime's own thread pools (a 4-layer 512-wide MLP over 64 rows,
    a 768x768 matmul) with numpy's BLAS as numpy starts it and on one thread, interleaved."""
    import onnx
    import onnxruntime as ort
    import torch
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, inits, prev = [], [], "x"
    for i in range(4):
        inits.append(numpy_helper.from_array(rng.standard_normal((512, 512)).astype(np.float32), f"w{i}"))
        nodes.append(helper.make_node("MatMul", [prev, f"w{i}"], [f"h{i}"]))
        prev = f"h{i}"
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [64, 512])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [64, 512])], inits)
    sess = ort.InferenceSession(helper.make_model(graph).SerializeToString(), providers=["CPUExecutionProvider"])
    x = rng.standard_normal((64, 512)).astype(np.float32)
    a = torch.randn(768, 768)
    out = {("ort", w): [] for w in ("before", "now")} | {("torch", w): [] for w in ("before", "now")}
    onnx.checker.check_model(helper.make_model(graph))
    for r in range(rounds):
        for way in (("before", "now") if r % 2 else ("now", "before")):
            use(way, default)
            t0 = time.perf_counter()
            for _ in range(10):
                sess.run(None, {"x": x})
            out[("ort", way)].append((time.perf_counter() - t0) * 100)
            t0 = time.perf_counter()
            for _ in range(10):
                torch.mm(a, a)
            out[("torch", way)].append((time.perf_counter() - t0) * 100)
    return {k: statistics.median(v) for k, v in out.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--history", type=int, default=50000)
    ap.add_argument("--waiting", type=int, default=5000)
    ap.add_argument("--page", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-pools", action="store_true", help="skip timing torch's and ONNX Runtime's pools")
    args = ap.parse_args(argv)
    default = blas_threads()  # as numpy starts (before one_blas_thread)

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
        catalogue_filed(objs[:args.history])
        cat_s = time.perf_counter() - t0
        suggester = Suggester(settings)
        suggester._engine = engine  # what a snapshot load gives: the engine after --history decisions
        suggester._folders_known = True
        review = Review(settings, suggester)

        truth = {i + 1: obj["folder"] for i, obj in enumerate(objs[args.history:])}  # photo ids from 1
        ways = ("before", "now")
        pages = {w: [] for w in ways}
        cpu = {w: [] for w in ways}
        many_cpu = {w: [] for w in ways}
        refresh = {w: [] for w in ways}
        refresh_cpu = {w: [] for w in ways}
        one_cpu, cursor, shown, right, differ, page_differ = [], None, 0, 0, 0, 0
        for r in range(args.rounds):
            order = ways if r % 2 else ways[::-1]  # neither way always runs first
            answers = {}
            for way in order:
                use(way, default)
                engine.drop_caches()  # each starts from a cold page cache, as after a decision
                if way == "now":
                    (rows, nxt, _count), wall, c = measured(review.queue, args.page, cursor)
                else:
                    (rows, nxt, _count), wall, c = measured(page_before, review, args.page, cursor)
                pages[way].append(wall)
                cpu[way].append(c)
                answers[way] = [(p.id, p.suggestions) for p in rows]
            cursor = nxt
            page_differ += sum(a != b for a, b in zip(answers["before"], answers["now"], strict=True))
            shown += sum(1 for p in rows if p.suggestions)
            right += sum(1 for p in rows if p.suggestions and p.suggestions[0]["folder"] == truth[p.id])
            tags, people = tags_and_people([p.id for p in rows])
            recs = [record(p, tags.get(p.id, {}), people.get(p.id, {})) for p in rows]
            use("now", default)
            engine.drop_caches()
            one, _wall, c = measured(lambda page: [engine.predict(rec, 3) for rec in page], recs)
            one_cpu.append(c / len(recs))
            for way in order:
                use(way, default)
                engine.drop_caches()
                many, _wall, c = measured(engine.predict_many, recs, 3)
                many_cpu[way].append(c / len(recs))
                differ += sum(not same(a, b) for a, b in zip(one, many, strict=True))
        for r in range(max(5, args.rounds // 4)):
            for way in (ways if r % 2 else ways[::-1]):
                use(way, default)
                _n, wall, c = measured(review.refresh)
                refresh[way].append(wall)
                refresh_cpu[way].append(c)
        database.close()

    print(f"review page latency: {args.history} decisions learned ({len(engine.known_folders())} folders, "
          f"512-d embeddings, learn {learn_s / args.history * 1000:.2f} ms each), {args.waiting} waiting photos "
          f"catalogued in {cat_s:.1f} s")

    def per_card(xs):
        return f"p50 {statistics.median(xs) / args.page:.2f} ms, p99 {pct(xs, 99) / args.page:.2f} ms"

    print(f"  page of {args.page} cards (query + tags/people + top-3 with reasons + proposal), CPU per card: "
          f"before {per_card(cpu['before'])}; now {per_card(cpu['now'])} "
          f"({statistics.median(cpu['before']) / statistics.median(cpu['now']):.1f}x); wall a page p50 "
          f"{statistics.median(pages['before']):.1f} -> {statistics.median(pages['now']):.1f} ms; "
          f"{page_differ} cards answered differently; {shown}/{args.page * args.rounds} cards with a "
          f"suggestion, top-1 right on {right}")
    print(f"  engine alone, CPU per card: one at a time p50 {statistics.median(one_cpu):.3f} ms, "
          f"p99 {pct(one_cpu, 99):.3f} ms; batched page before p50 {statistics.median(many_cpu['before']):.3f} ms, "
          f"p99 {pct(many_cpu['before'], 99):.3f} ms; now p50 {statistics.median(many_cpu['now']):.3f} ms, "
          f"p99 {pct(many_cpu['now'], 99):.3f} ms "
          f"({statistics.median(many_cpu['before']) / statistics.median(many_cpu['now']):.1f}x); "
          f"{differ} cards answered differently from one at a time")
    print(f"  refresh after a decision (first 100 waiting, store changed), CPU p50: before "
          f"{statistics.median(refresh_cpu['before']):.1f} ms, now {statistics.median(refresh_cpu['now']):.1f} ms "
          f"(wall p50 {statistics.median(refresh['before']):.1f} -> {statistics.median(refresh['now']):.1f} ms)")
    if not args.no_pools:
        pools = other_pools(default)
        print(f"  other thread pools, wall ms (numpy's BLAS as numpy starts it -> on one thread): ONNX Runtime "
              f"4x MatMul 64x512x512 {pools[('ort', 'before')]:.2f} -> {pools[('ort', 'now')]:.2f}; torch "
              f"mm 768x768 {pools[('torch', 'before')]:.2f} -> {pools[('torch', 'now')]:.2f}")
    print(f"  (numpy's BLAS starts with {default} threads; machine load average {os.getloadavg()[0]:.1f}, "
          f"{os.getloadavg()[1]:.1f} over 5 min: wall times include waiting for a CPU)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
