"""Ingest throughput for 12 MP JPEGs (no ML): hashing, validation by decoding, EXIF, pHash, thumbnails.

    python bench/ingest.py [--count 40] [--workers N]
    python bench/ingest.py --cores 1,2 [--count 40]

Prints photos/s and MB/s. `--cores 1,2` imports the same photos once per core count, this process
pinned to that many cores with as many workers, and prints the speed-up (the last line, key=value). The photos are generated (4000x3000, camera-like detail, EXIF orientation
and date), written once to a temp folder, then imported into a fresh data dir with the real
`ingest_paths` used by `jaicat import`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_photo(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
    img = Image.fromarray(base).resize((4000, 3000), Image.Resampling.BICUBIC)
    arr = np.asarray(img, dtype=np.int16)
    arr = arr + rng.integers(-12, 12, arr.shape, dtype=np.int16)  # sensor-like grain
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    exif = Image.Exif()
    exif[0x0112] = (1, 6, 3, 8)[seed % 4]
    exif[0x010F] = "BenchCam"
    exif[0x0110] = "12MP"
    exif.get_ifd(0x8769)[0x9003] = f"2024:07:{1 + seed % 28:02d} 12:00:00"
    img.save(path, "JPEG", quality=90, exif=exif)


def import_once(src: Path, work: Path, workers: int | None) -> float:
    """Import every photo of `src` into a fresh data dir under `work`; returns the seconds it took."""
    from jaicat.config import load_settings
    from jaicat.db import database, open_db
    from jaicat.photos.ingest import ingest_paths

    s = load_settings(data_dir=work, env={})
    s.ensure_dirs()
    open_db(s.db_path)
    t = time.perf_counter()
    summary = ingest_paths([src], s, workers=workers)
    dt = time.perf_counter() - t
    database.close()
    assert not summary.rejected, summary.line()
    return dt


def compare_cores(count: int, cores: list[int]) -> None:
    available = sorted(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="jaicat-bench-") as tmp:
        src = Path(tmp) / "camera"
        src.mkdir()
        for i in range(count):
            make_photo(src / f"IMG_{i:04d}.jpg", i)
        rates = {}
        for n in cores:
            if n > len(available):
                raise SystemExit(f"only {len(available)} cores available")
            os.sched_setaffinity(0, available[:n])  # worker processes inherit it
            dt = import_once(src, Path(tmp) / f"data-{n}", n)
            rates[n] = count / dt
            print(f"{n} core(s), {n} worker(s): {rates[n]:.1f} photos/s ({dt / count * 1000:.0f} ms a photo)")
        os.sched_setaffinity(0, available)
    base = rates[cores[0]]
    print(" ".join(f"photos_per_s_{n}={r:.2f}" for n, r in rates.items())
          + f" speedup={rates[cores[-1]] / base:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--cores", default=None, help="comma-separated core counts to compare, e.g. 1,2")
    args = ap.parse_args()
    if args.cores:
        return compare_cores(args.count, [int(c) for c in args.cores.split(",")])

    from jaicat.config import load_settings
    from jaicat.db import database, open_db
    from jaicat.photos.ingest import ingest_paths

    with tempfile.TemporaryDirectory(prefix="jaicat-bench-") as tmp:
        src = Path(tmp) / "camera"
        src.mkdir()
        t = time.perf_counter()
        for i in range(args.count):
            make_photo(src / f"IMG_{i:04d}.jpg", i)
        total_mb = sum(p.stat().st_size for p in src.iterdir()) / 1e6
        print(f"generated {args.count} 12 MP JPEGs ({total_mb / args.count:.1f} MB each) "
              f"in {time.perf_counter() - t:.1f}s")
        s = load_settings(data_dir=Path(tmp) / "data", env={})
        s.ensure_dirs()
        open_db(s.db_path)
        t = time.perf_counter()
        summary = ingest_paths([src], s, workers=args.workers)
        dt = time.perf_counter() - t
        database.close()
        assert len(summary.imported) == args.count, summary.line()
        print(f"cpu cores: {os.cpu_count()}, workers: {args.workers or 'default'}")
        print(f"ingest: {args.count / dt:.1f} photos/s, {total_mb / dt:.0f} MB/s "
              f"({dt / args.count * 1000:.0f} ms per photo wall)")


if __name__ == "__main__":
    main()
