"""Face recognition benchmark: detect+encode throughput and quality on the real media faces, and the
time to match one face against 10k known encodings (goal: < 1 ms).

    python bench/faces.py [--media ../shared/media] [--max-side 1600] [--model hog] [--known 10000]

Prints, per photo: decode, detect and encode milliseconds; faces/s; precision and recall of
recognising each person's second half of photos from the first half (at least one) and from a single
photo; and match time per face (one at a time and batched) with the matcher build time.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from jaicat.config import Settings
from jaicat.photos.imaging import open_upright
from jaicat.people import faces as faces_ml

DEFAULT_MEDIA = Path(os.environ.get("JAICAT_TEST_MEDIA", Path(__file__).resolve().parents[1].parent / "shared" / "media"))


class TimedModels(faces_ml.FaceModels):
    """The real models, with the time spent in detection and in encoding added up."""

    def __init__(self) -> None:
        super().__init__()
        self.detect_s = self.encode_s = 0.0
        self.faces = 0

    def detect(self, image, model, upsample):
        t = time.perf_counter()
        try:
            return super().detect(image, model, upsample)
        finally:
            self.detect_s += time.perf_counter() - t

    def encode(self, image, boxes, num_jitters=1):
        t = time.perf_counter()
        try:
            return super().encode(image, boxes, num_jitters)
        finally:
            self.encode_s += time.perf_counter() - t
            self.faces += len(boxes)


def media_people(media: Path) -> dict[str, list[Path]]:
    return {d.name: sorted(f for f in d.iterdir() if f.is_file())
            for d in sorted((media / "faces").iterdir()) if d.is_dir()}


def throughput(files: list[Path], model: str, max_side: int) -> dict[Path, list]:
    models = TimedModels()
    models.detect(np.zeros((64, 64, 3), np.uint8), model, 0)  # load outside the timing
    models.encode(np.zeros((64, 64, 3), np.uint8), [])
    models.detect_s = models.encode_s = 0.0
    decode_s, found = 0.0, {}
    start = time.perf_counter()
    for f in files:
        t = time.perf_counter()
        image = np.asarray(open_upright(f, max_side=faces_ml.ENCODE_MAX_SIDE))
        decode_s += time.perf_counter() - t
        found[f] = faces_ml.detect_faces(image, model=model, max_side=max_side, models=models)
    total = time.perf_counter() - start
    n = len(files)
    print(f"detect+encode ({model}, max side {max_side}) on {n} photos, {models.faces} faces:")
    print(f"  per photo: decode {1000 * decode_s / n:.0f} ms, detect {1000 * models.detect_s / n:.0f} ms, "
          f"encode {1000 * models.encode_s / max(1, models.faces):.0f} ms per face")
    print(f"  {n / total:.2f} photos/s, {models.faces / total:.2f} faces/s (end to end, incl. decoding)")
    return found


def quality(people: dict[str, list[Path]], found: dict[Path, list], tolerance: float) -> None:
    for label, enrolled_count in (("half", lambda n: max(1, n // 2)), ("one photo", lambda n: 1)):
        encodings, ids, tests = [], [], []
        for pid, files in enumerate(people.values()):
            k = enrolled_count(len(files))
            for f in files[:k]:
                if found[f]:
                    biggest = max(found[f], key=lambda d: d.w * d.h)
                    encodings.append(biggest.encoding)
                    ids.append(pid)
            tests += [(pid, f) for f in files[k:]]
        matcher = faces_ml.FaceMatcher(np.array(encodings), ids)
        correct = wrong = hit = 0
        for pid, f in tests:
            names = [m.person_id for m in matcher.match_many([d.encoding for d in found[f]], tolerance) if m] \
                if found[f] else []
            correct += names.count(pid)
            wrong += len(names) - names.count(pid)
            hit += pid in names
        print(f"  enrolled from {label}: {len(encodings)} known, {len(tests)} photos to recognise: "
              f"precision {correct / max(1, correct + wrong):.3f}, recall {hit / max(1, len(tests)):.3f}")


def match_speed(real: np.ndarray, known: int, queries: int) -> None:
    rng = np.random.default_rng(0)
    # known encodings shaped like real ones: real faces plus noise, 1 person per ~20 encodings
    base = real[rng.integers(0, len(real), known)]
    matrix = (base + rng.normal(0, 0.03, base.shape)).astype(np.float32)
    person_ids = rng.integers(1, max(2, known // 20), known)
    blobs = [v.astype("<f4").tobytes() for v in matrix]
    t = time.perf_counter()
    matcher = faces_ml.FaceMatcher(np.frombuffer(b"".join(blobs), "<f4").reshape(-1, 128), person_ids)
    build_ms = 1000 * (time.perf_counter() - t)
    q = (real[rng.integers(0, len(real), queries)] + rng.normal(0, 0.05, (queries, 128))).astype(np.float32)
    matcher.match(q[0])
    times = []
    for v in q:
        t = time.perf_counter()
        matcher.match(v)
        times.append(time.perf_counter() - t)
    times_ms = 1000 * np.array(times)
    t = time.perf_counter()
    matcher.match_many(q)
    batch_ms = 1000 * (time.perf_counter() - t) / queries
    print(f"matching against {known} known encodings ({matcher.person_ids.max()} people), {queries} faces:")
    print(f"  one at a time: mean {times_ms.mean():.3f} ms, p50 {np.median(times_ms):.3f} ms, "
          f"p99 {np.percentile(times_ms, 99):.3f} ms per face (goal < 1 ms)")
    print(f"  batched (match_many): {batch_ms:.3f} ms per face; matcher build from blobs {build_ms:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", type=Path, default=DEFAULT_MEDIA)
    ap.add_argument("--max-side", type=int, default=Settings().face_max_side)
    ap.add_argument("--model", default="hog", choices=("hog", "cnn", "auto"))
    ap.add_argument("--tolerance", type=float, default=faces_ml.DEFAULT_TOLERANCE)
    ap.add_argument("--known", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=1000)
    args = ap.parse_args()

    people = media_people(args.media)
    files = [f for fs in people.values() for f in fs] + sorted((args.media / "faces_groups").iterdir())
    found = throughput(files, args.model, args.max_side)
    quality(people, found, args.tolerance)
    real = np.array([d.encoding for ds in found.values() for d in ds])
    match_speed(real, args.known, args.queries)


if __name__ == "__main__":
    main()
