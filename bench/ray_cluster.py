"""Analysis on a Ray cluster vs in-process: photos/s, and the per-photo overhead of the Ray path.

(Not bench/ray.py: run as a script, that name would shadow the ray package it measures.)

    python bench/ray_cluster.py [--photos 24] [--workers 2] [--batch 4] [--quick]

Runs the real pipeline (decode, CLIP embedding + zero-shot tags, faces with dlib HOG, storing, events)
on real face and group photos from ../shared/media (or tests/media) three ways, each into a fresh
catalogue, through `run_pending`:
  in-process    the server's worker as it runs without Ray (torch on every core); run first and last,
                the figure compared is their mean (the machine's load drifts)
  ray N         `--ray local` with N workers (Ray actors, each with its share of the cores)
  ray serial    one worker, one batch at a time: per batch, the round trip minus the seconds the models
                took on the worker is the Ray path's overhead (reading the files, the object store both
                ways, scheduling, the results coming back), printed per photo
The CLIP model has ViT-B/32's image tower (random weights: speed does not depend on values) and a small
text tower (only the vocabulary goes through it, once). Captions are off: BLIP at ~0.3 photos/s on two
CPU cores would hide everything else; they scale across workers the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import string
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("JAICAT_TEST_MEDIA", ROOT.parent / "shared" / "media"))


def build_clip_b32(dest: Path) -> Path:
    """CLIP with ViT-B/32's image tower and a tiny character-level text tower, saved loadable."""
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    try:
        from transformers import CLIPImageProcessorPil as ImageProcessor
    except ImportError:  # transformers 4
        from transformers import CLIPImageProcessor as ImageProcessor

    dest.mkdir(parents=True, exist_ok=True)
    chars = string.ascii_lowercase + string.digits + ".,'-"
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    for s in ("<|startoftext|>", "<|endoftext|>"):
        vocab[s] = len(vocab)
    (dest / "vocab.json").write_text(json.dumps(vocab))
    (dest / "merges.txt").write_text("#version: 0.2\n")
    tok = CLIPTokenizer(str(dest / "vocab.json"), str(dest / "merges.txt"))
    eot = vocab["<|endoftext|>"]
    torch.manual_seed(0)
    cfg = CLIPConfig(text_config=dict(vocab_size=len(vocab), hidden_size=64, intermediate_size=128,
                                      num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=77,
                                      bos_token_id=vocab["<|startoftext|>"], eos_token_id=eot, pad_token_id=eot),
                     projection_dim=512)  # vision_config defaults: ViT-B/32, 224 px
    CLIPModel(cfg).eval().save_pretrained(dest)
    tok.save_pretrained(dest)
    ImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}).save_pretrained(dest)
    return dest


def media(n: int) -> list[Path]:
    root = MEDIA if (MEDIA / "faces").is_dir() else ROOT / "tests" / "media"
    files = sorted([*(root / "faces").glob("*/*.jpg"), *(root / "faces_groups").glob("*.jpg")])
    return files[:n]


def run(name: str, tmp: Path, photos: list[Path], clip: Path, batch: int, ray: tuple[int, int] | None) -> dict:
    """One pass into a fresh catalogue; ray = (workers, batches in flight per worker) or None."""
    from jaicat.config import load_settings
    from jaicat.db import Photo, database, open_db
    from jaicat.photos.ingest import ingest_file
    from jaicat.pipeline.analysis import Analyser
    from jaicat.pipeline.cluster import Cluster
    from jaicat.pipeline.worker import run_pending

    s = load_settings(data_dir=tmp / name, env={}, zeroconf=False, worker=False, clip_model=str(clip),
                      captions=False, batch_size=batch, models_dir=tmp / "models")
    s.ensure_dirs()
    open_db(s.db_path)
    for f in photos:
        ingest_file(f, s)
    cluster = None
    try:
        if ray is not None:
            cluster = Cluster(s, "local", workers=ray[0])
            cluster.in_flight = ray[1]
            cluster.connect()  # Ray and the workers' models up before the clock starts, like a running server
        analyser = Analyser(s)
        if ray is None:  # the same for the in-process models: weights and the vocabulary's text embeddings
            analyser.tagger().text_matrix()
            analyser.people()
        t0 = time.perf_counter()
        job = run_pending(s, analyser=analyser, cluster=cluster)
        wall = time.perf_counter() - t0
        ok = Photo.select().where(Photo.analysed_at.is_null(False)).count()
        out = {"name": name, "photos": ok, "wall": wall, "per_s": ok / wall, "job": job.status}
        if cluster is not None:
            log = list(cluster.batch_log)
            n = sum(b[0] for b in log)
            out["overhead_ms"] = 1000 * sum(b[2] - b[3] for b in log) / n
            out["model_ms"] = 1000 * sum(b[3] for b in log) / n
            out["mb_per_photo"] = sum(b[1] for b in log) / n / 1e6
            out["p50_batch_overhead_ms"] = 1000 * statistics.median(b[2] - b[3] for b in log)
        return out
    finally:
        if cluster is not None:
            cluster.close()
        database.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=24)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4, help="photos per batch (batch_size)")
    ap.add_argument("--quick", action="store_true", help="8 photos")
    a = ap.parse_args()
    if a.quick:
        a.photos = 8
    sys.path.insert(0, str(ROOT / "server"))
    import ray
    import torch

    photos = media(a.photos)
    print(f"jaicat Ray bench: {len(photos)} photos ({photos[0].parent.parent}), {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), ray {ray.__version__}, "
          f"load average {os.getloadavg()[0]:.1f} (shared machine: figures move with load)", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        clip = build_clip_b32(tmp / "clip-b32")
        # in-process first and last: the machine's load drifts, the two bracket the Ray runs
        for name, ray_cfg in (("in-process", None), (f"ray {a.workers} workers", (a.workers, 2)),
                              ("ray serial (1 worker, 1 batch)", (1, 1)), ("in-process again", None)):
            r = run(name.split()[0] + str(len(rows)), tmp, photos, clip, a.batch, ray_cfg)
            r["name"] = name
            rows.append(r)
            what = "overhead" if ray_cfg and ray_cfg[1] == 1 else "queued+overhead"
            extra = (f"  {what} {r['overhead_ms']:.0f} ms/photo (models {r['model_ms']:.0f} ms/photo, "
                     f"{r['mb_per_photo']:.2f} MB/photo sent)" if "overhead_ms" in r else "")
            print(f"  {name:<32} {r['per_s']:5.2f} photos/s  ({r['photos']} in {r['wall']:.1f} s){extra}",
                  flush=True)
        shutil.rmtree(clip, ignore_errors=True)
    first, par, serial, last = rows
    base = {"per_s": (first["per_s"] + last["per_s"]) / 2}
    print(f"\nray_vs_in_process={par['per_s'] / base['per_s']:.2f}x in_process={base['per_s']:.2f}/s "
          f"ray{a.workers}={par['per_s']:.2f}/s overhead_per_photo_ms={serial['overhead_ms']:.0f} "
          f"load={os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
