"""Folder suggestion benchmark: the engine against each single-signal baseline, and latency at 50k.

Accuracy: synthetic households from bench/histories.py (or your own --history files) replayed
prequentially; top-1/top-3 are reported over the decisions after the first --skip (200), plus the
calibration error of the first suggestion's confidence. Latency: one household grown to --latency-n
decisions (with 512-d embeddings), then p50/p99 of the next --probe suggestions, reasons included.

    .venv/bin/python bench/suggest.py                      # 4 households x 3000 decisions + latency
    .venv/bin/python bench/suggest.py --history a.jsonl    # your own histories, no latency run
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from histories import household  # noqa: E402

from jaicat.suggest.engine import SIGNALS, SuggestEngine  # noqa: E402
from jaicat.suggest.evaluate import evaluate, read_history  # noqa: E402
from jaicat.suggest.features import parse_record  # noqa: E402


def records_of(objs):
    for i, obj in enumerate(objs, 1):
        rec, folder = parse_record(obj, f"record {i}")
        yield i, rec, folder


def accuracy(histories: list[list], skip: int, systems: list[str]) -> list[tuple]:
    rows = []
    for name in systems:
        t1, t3, ece, n = [], [], [], 0
        for recs in histories:
            engine = SuggestEngine() if name == "engine" else SuggestEngine(signals=[name])
            res = evaluate(recs, k=3, engine=engine)
            t1.append(res.top(1, skip))
            t3.append(res.top(3, skip))
            ece.append(res.calibration_error(skip))
            n += res.n
        rows.append((name, float(np.mean(t1)), float(np.mean(t3)), float(np.mean(ece)), min(t1), n))
        print(f"  {name:10s} top1={rows[-1][1]:.3f} top3={rows[-1][2]:.3f}", file=sys.stderr)
    return rows


def latency(n: int, probe: int, dim: int, seed: int) -> dict:
    objs = household(seed, n + probe, dim=dim)
    recs = list(records_of(objs))
    engine = SuggestEngine()
    t0 = time.perf_counter()
    for i, (_, rec, folder) in enumerate(recs[:n]):
        # statistics from all n; the combiner trains on the latest 3000, as a service rebuild does
        engine.learn(rec, folder, update_weights=i >= n - 3000)
        if i % 10000 == 0 and i:
            print(f"  learned {i}", file=sys.stderr)
    learn_s = time.perf_counter() - t0
    res = evaluate(recs[n:], k=3, engine=engine, explain=True)
    snap = engine.to_bytes()
    t0 = time.perf_counter()
    SuggestEngine.from_bytes(snap)
    load_s = time.perf_counter() - t0
    return {"history": n, "folders": len(engine.known_folders()), "p50": res.latency_ms(50),
            "p99": res.latency_ms(99),
            "cpu50": res.latency_ms(50, cpu=True), "cpu99": res.latency_ms(99, cpu=True),
            "learn_ms": learn_s / n * 1000, "top1": res.top(1),
            "snapshot_mb": len(snap) / 1e6, "load_s": load_s}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="folder suggestion benchmark")
    ap.add_argument("--history", nargs="*", help="jsonl histories instead of generated households")
    ap.add_argument("--households", type=int, default=4)
    ap.add_argument("--decisions", type=int, default=3000)
    ap.add_argument("--dim", type=int, default=64, help="embedding size of generated households")
    ap.add_argument("--skip", type=int, default=200, help="score only decisions after the first N")
    ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--signals", default="engine," + ",".join(SIGNALS))
    ap.add_argument("--latency-n", type=int, default=50000, help="0 skips the latency run")
    ap.add_argument("--probe", type=int, default=1000)
    args = ap.parse_args(argv)

    if args.history:
        histories = [list(read_history(p)) for p in args.history]
        args.latency_n = 0
    else:
        histories = [list(records_of(household(args.seed + h, args.decisions, args.dim)))
                     for h in range(args.households)]
    systems = [s for s in args.signals.split(",") if s]
    print(f"accuracy: {len(histories)} histories, {sum(map(len, histories))} decisions, "
          f"scored after the first {args.skip} of each", file=sys.stderr)
    rows = accuracy(histories, args.skip, systems)
    print("| system | top-1 | top-3 | worst household top-1 | calibration error (ECE) |")
    print("|---|---|---|---|---|")
    for name, t1, t3, ece, worst, _ in rows:
        label = "**engine (all signals)**" if name == "engine" else f"{name} only"
        print(f"| {label} | {t1:.3f} | {t3:.3f} | {worst:.3f} | {ece:.3f} |")
    if args.latency_n:
        lat = latency(args.latency_n, args.probe, 512, args.seed + 99)
        print()
        print(f"latency after {lat['history']} decisions ({lat['folders']} folders, 512-d embeddings): "
              f"p50={lat['p50']:.2f} ms p99={lat['p99']:.2f} ms wall per suggestion (top-3 with reasons), "
              f"CPU p50={lat['cpu50']:.2f} ms p99={lat['cpu99']:.2f} ms; load average {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} cores; "
              f"learn {lat['learn_ms']:.2f} ms per decision; snapshot {lat['snapshot_mb']:.0f} MB "
              f"loads in {lat['load_s']:.2f} s; top1 on the next {args.probe}: {lat['top1']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
