"""ML pipeline throughput per stage, and nearest-neighbour query latency at scale.

    python bench/ml.py [--regions 1000000] [--vectors 100000] [--clip-images 32] [--captions 2] [--quick]

Stages (each prints one table row):
  decode        12 MP camera JPEGs (generated) and real phone HEICs (../shared/media/heic_real) via
                jaicat.photos.imaging.open_upright(max_side=1600), as the worker decodes
  clip-image    CLIP image embedding, random-weight ViT-B/32-sized model (CLIPConfig() defaults =
                openai/clip-vit-base-patch32 shapes) through the production ClipEncoder, batch 16
  caption       BLIP-base-sized random model (BlipConfig() defaults) through the production
                Captioner, 20 tokens forced per caption (random weights would otherwise stop at once)
  faces         detect + encode via jaicat.people.faces.detect_faces (HOG) on the real face photos
  annoy-100k    jaicat.search.index.VectorIndex over N random unit 512-d vectors: build, query p50/p95, recall@10
  regions       the same index at the similar-region scale (default 1M; goal p50 < 5 ms) with a
                1,000-row tail, on region-like clustered vectors, querying "regions like this one"

No weights are downloaded: model shapes are real, values are random (speed does not depend on them).
Random vectors are the worst case for annoy recall; real CLIP embeddings cluster and recall is higher.
"""

from __future__ import annotations

import argparse
import os
import statistics
import string
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("JAICAT_TEST_MEDIA", ROOT.parent / "shared" / "media"))
ROWS: list[tuple[str, str, str]] = []


def row(stage: str, figure: str, detail: str) -> None:
    ROWS.append((stage, figure, detail))
    print(f"  {stage:<12} {figure:<26} {detail}", flush=True)


def photos(folder: str, limit: int) -> list[Path]:
    exts = {".jpg", ".jpeg", ".png", ".heic", ".webp"}
    files = sorted(p for p in (MEDIA / folder).rglob("*") if p.suffix.lower() in exts)
    return files[:limit]


def _decode_all(files: list[Path], max_side: int = 1600) -> tuple[list, float, float]:
    from jaicat.photos.imaging import open_upright

    images, mp = [], 0.0
    t0 = time.perf_counter()
    for f in files:
        try:
            im = open_upright(f, max_side=max_side)
        except Exception:  # noqa: BLE001 - some heic_real samples are deliberately odd
            continue
        mp += im.width * im.height / 1e6
        images.append(im)
    return images, time.perf_counter() - t0, mp


def bench_decode(n: int, tmp: Path) -> list:
    """12 MP camera JPEGs (generated like bench/ingest.py) and real phone HEICs, decoded as the worker does."""
    from ingest import make_photo  # bench/ingest.py (same folder)

    files = []
    for i in range(n):
        f = tmp / f"cam_{i}.jpg"
        make_photo(f, i)
        files.append(f)
    images, dt, mp = _decode_all(files)
    row("decode-jpeg", f"{len(images) / dt:.1f} photos/s", f"{len(images)} x 12 MP JPEG -> <=1600 px (draft), "
        f"{1000 * dt / len(images):.0f} ms each")
    heics = [p for p in photos("heic_real", 12) if "200MP" not in p.name and p.suffix.lower() == ".heic"][:max(2, n // 4)]
    himages, hdt, _ = _decode_all(heics)
    if himages:
        row("decode-heic", f"{len(himages) / hdt:.1f} photos/s", f"{len(himages)} real phone HEICs -> <=1600 px, "
            f"{1000 * hdt / len(himages):.0f} ms each")
    return images + himages


def bench_clip(images: list, n: int) -> None:
    import torch
    from transformers import CLIPConfig, CLIPModel

    try:
        from transformers import CLIPImageProcessorPil as Proc
    except ImportError:
        from transformers import CLIPImageProcessor as Proc
    from jaicat.pipeline.analysis import CLIP_INPUT_SIDE, _shrink
    from jaicat.models.clip import ClipEncoder

    torch.manual_seed(0)
    model = CLIPModel(CLIPConfig())  # ViT-B/32 shapes, 151 M parameters
    enc = ClipEncoder.from_model(model, Proc(), device="cuda" if torch.cuda.is_available() else "cpu")
    batch = [_shrink(images[i % len(images)], CLIP_INPUT_SIDE) for i in range(n)]
    enc.predict(batch[:2])  # warm-up
    t0 = time.perf_counter()
    emb = enc.predict(batch)
    dt = time.perf_counter() - t0
    row("clip-image", f"{n / dt:.1f} images/s", f"ViT-B/32 random weights, batch {enc.batch_size}, "
        f"{enc.device}, {torch.get_num_threads()} threads -> {emb.shape[1]}-d")


def _blip_processor(tmp: Path):
    from transformers import BertTokenizer, BlipProcessor

    try:
        from transformers import BlipImageProcessorPil as Proc
    except ImportError:
        from transformers import BlipImageProcessor as Proc
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(30517)] + ["[DEC]"]
    (tmp / "vocab.txt").write_text("\n".join(vocab + list(string.ascii_lowercase)) + "\n")
    tok = BertTokenizer(str(tmp / "vocab.txt"))
    return BlipProcessor(image_processor=Proc(), tokenizer=tok)


def bench_caption(images: list, n: int, tmp: Path) -> None:
    import torch
    from transformers import BlipConfig, BlipForConditionalGeneration

    from jaicat.pipeline.analysis import CLIP_INPUT_SIDE, _shrink
    from jaicat.models.captioner import Captioner

    torch.manual_seed(0)
    model = BlipForConditionalGeneration(BlipConfig())  # BLIP-base shapes (ViT-B/16 at 384 px + BERT-base)
    cap = Captioner.from_model(model, _blip_processor(tmp), device="cuda" if torch.cuda.is_available() else "cpu")
    cap.max_new_tokens = cap.min_new_tokens = 20
    batch = [_shrink(images[i % len(images)], CLIP_INPUT_SIDE) for i in range(n)]
    t0 = time.perf_counter()
    out = cap.predict(batch)
    dt = time.perf_counter() - t0
    row("caption", f"{n / dt:.2f} images/s", f"BLIP-base random weights, {len(out)} captions x 20 tokens, "
        f"{dt / n:.1f} s each, {cap.device}")


def bench_faces(n: int) -> None:
    try:
        from jaicat.people import faces
    except ImportError as e:
        row("faces", "skipped", f"jaicat.people.faces unavailable ({e})")
        return
    from jaicat.photos.imaging import open_upright

    files = photos("faces", n)
    arrays = [np.asarray(open_upright(f, max_side=1600)) for f in files]
    models = faces.FaceModels()
    faces.detect_faces(arrays[0], models=models)  # load dlib models
    t0 = time.perf_counter()
    found = sum(len(faces.detect_faces(a, model="hog", max_side=1600, models=models)) for a in arrays)
    dt = time.perf_counter() - t0
    row("faces", f"{len(arrays) / dt:.1f} photos/s", f"HOG detect + 128-d encode, {len(arrays)} real photos, "
        f"{found} faces ({found / dt:.1f} faces/s)")


def random_unit(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, d), np.float32)
    for s in range(0, n, 100_000):  # chunked: bounded temporaries at 1M x 512
        block = rng.standard_normal((min(100_000, n - s), d), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[s:s + len(block)] = block
    return out


def clustered_unit(n: int, d: int, seed: int, per_cluster: int = 50, spread: float = 0.6) -> np.ndarray:
    """Region-like data: groups of ~per_cluster similar crops (centre + noise), unit length."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(1, n // per_cluster), d), dtype=np.float32)
    out = np.empty((n, d), np.float32)
    for s in range(0, n, 100_000):
        m = min(100_000, n - s)
        block = centres[rng.integers(0, len(centres), m)] + spread * rng.standard_normal((m, d), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[s:s + m] = block
    return out


def bench_index(stage: str, n: int, d: int = 512, queries: int = 200, tail: int = 0,
                data: str = "random") -> None:
    """Build a VectorIndex over n vectors, then time k=10 queries. Random data: fresh random queries;
    clustered data: "regions like this one" (an indexed vector, itself excluded), as similar_regions does."""
    from jaicat.search.index import VectorIndex

    t0 = time.perf_counter()
    vecs = random_unit(n, d, seed=n) if data == "random" else clustered_unit(n, d, seed=n)
    ids = np.arange(1, n + 1, dtype=np.int64)
    gen = time.perf_counter() - t0
    idx = VectorIndex(stage, lambda: (ids, vecs), brute_force_below=0)
    t0 = time.perf_counter()
    idx.rebuild(wait=True)
    build = time.perf_counter() - t0
    rng = np.random.default_rng(7)
    if data == "random":
        qs, self_ids = random_unit(queries, d, seed=7), [0] * queries
    else:
        rows = rng.integers(0, n, queries)
        qs, self_ids = vecs[rows], (rows + 1).tolist()
    extra = random_unit(tail, d, seed=11) if tail else np.zeros((0, d), np.float32)
    for j, v in enumerate(extra):
        idx.add(n + 1 + j, v)
    idx.query(qs[0], 10)
    times, cpu, got = [], [], []
    for q, own in zip(qs, self_ids, strict=True):
        t, c = time.perf_counter(), time.thread_time()
        got.append([i for i, _ in idx.query(q, 10, exclude={own})])
        cpu.append((time.thread_time() - c) * 1e3)  # this thread's CPU: the cost without preemption
        times.append((time.perf_counter() - t) * 1e3)
    # recall@10 against exact search on the first 50 queries (tail included)
    all_ids = np.concatenate([ids, np.arange(n + 1, n + 1 + tail)])
    recalls = []
    for g, q, own in zip(got[:50], qs[:50], self_ids[:50], strict=True):
        sims = np.concatenate([vecs @ q, extra @ q])
        order = [int(i) for i in all_ids[np.argsort(-sims)[:11]] if int(i) != own][:10]
        recalls.append(len(set(g) & set(order)) / 10)
    p50, p95 = statistics.median(times), float(np.percentile(times, 95))
    detail = (f"n={n:,} d={d} trees={idx.n_trees}{f' +{tail} tail' if tail else ''}: build {build:.0f} s "
              f"(+{gen:.0f} s data), p95 {p95:.2f} ms, CPU p50 {statistics.median(cpu):.2f} ms, "
              f"recall@10 {np.mean(recalls):.2f} ({data} data)")
    row(stage, f"p50 {p50:.2f} ms", detail)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--regions", type=int, default=1_000_000, help="similar-region index size (0: skip)")
    ap.add_argument("--vectors", type=int, default=100_000, help="annoy stage size")
    ap.add_argument("--region-data", choices=("clustered", "random"), default="clustered",
                    help="region vectors: groups of similar crops (realistic) or uniform random (worst case)")
    ap.add_argument("--clip-images", type=int, default=32)
    ap.add_argument("--captions", type=int, default=2)
    ap.add_argument("--faces", type=int, default=8)
    ap.add_argument("--decode", type=int, default=12)
    ap.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    a = ap.parse_args()
    if a.quick:
        a.regions, a.vectors, a.clip_images, a.captions, a.faces, a.decode = 20_000, 10_000, 4, 1, 2, 6
    sys.path.insert(0, str(ROOT / "server"))
    import torch

    print(f"jaicat ML bench: {os.cpu_count()} CPUs, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"cuda={torch.cuda.is_available()}, load average {os.getloadavg()[0]:.1f} (shared machine: figures are "
          f"lower bounds when others are busy)", flush=True)
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        images = bench_decode(a.decode, Path(tmp))
        bench_clip(images, a.clip_images)
        bench_caption(images, a.captions, Path(tmp))
    bench_faces(a.faces)
    bench_index("annoy", a.vectors)
    if a.regions:
        bench_index("regions", a.regions, queries=300, tail=1000, data=a.region_data)
    print("\n| stage | figure | detail |\n|---|---|---|")
    for stage, fig, detail in ROWS:
        print(f"| {stage} | {fig} | {detail} |")
    print(f"\ntotal {time.perf_counter() - t_all:.0f} s, load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
