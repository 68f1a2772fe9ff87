"""The whole analysis pipeline end to end, on generated 12 MP JPEGs, with per-stage times.

    python bench/pipeline.py [--photos 24] [--latency 6] [--quick] [--baseline] [--device cpu|cuda]
    python bench/pipeline.py --phones 8 --photos 2000 --device cuda

Models: a ViT-B/32-sized CLIP (CLIPConfig() defaults) and a BLIP-base-sized captioner (BlipConfig()
defaults) with random weights, saved to a models folder and loaded through Jaicat's real loader (which
exports and quantises them where model_runtime says so; the export time is printed). Random weights
change no cost but the caption's length, so every caption is forced to 20 words, as bench/ml.py does.

Two measurements per configuration:
  throughput  the real Runtime in this process (worker thread, suggester) while this thread ingests the
              photos through the one ingest function: photos_per_s = photos / (first ingest -> last
              photo analysed and suggested: thumbnails, CLIP embedding + tags, faces, suggestion);
              captions_per_s = captions / time inside the caption pass (counted separately; it runs
              when no photo waits). Per-stage rows are wall time per photo in the thread that ran it.
              `--phones N`: N simulated phones send at once, each photo through the one ingest function
              on a thread of its own, as the server's request threads do when uploads finish together.
  latency     the real server (`jaicat serve` in a subprocess): upload a photo over HTTP, time from the
              last chunk's answer to `suggestion.ready` for it on the websocket; the server is idle
              between uploads (the previous photo's caption is done). Captions on.

--baseline also runs the configuration before this bench existed, in the same run on the same machine:
model_runtime=torch (float torch on the CPU) and captions computed before a photo is stored, as the
pipeline did (the caption pass is called inside analysis). The last line is always the current one:
    photos_per_s=X captions_per_s=Y upload_to_suggestion_p50_ms=Z
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

CAPTION_WORDS = 20


# --- models ---------------------------------------------------------------------------------------
def build_models(dest: Path) -> dict[str, Path]:
    """Random-weight ViT-B/32 CLIP and BLIP-base saved like pulled models (config, weights, processors)."""
    import torch
    from transformers import (BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipProcessor, CLIPConfig,
                              CLIPModel, CLIPTokenizer)

    try:
        from transformers import BlipImageProcessorPil as BlipImages
        from transformers import CLIPImageProcessorPil as ClipImages
    except ImportError:
        from transformers import BlipImageProcessor as BlipImages
        from transformers import CLIPImageProcessor as ClipImages

    torch.manual_seed(0)
    clip_dir, blip_dir = dest / "clip-vit-b32", dest / "blip-base"
    clip_dir.mkdir(parents=True, exist_ok=True)
    blip_dir.mkdir(parents=True, exist_ok=True)
    # CLIP: a character vocabulary (every text tokenises, no merges needed) in the full-size embedding
    chars = string.ascii_lowercase + string.digits + ".,'-"
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = len(vocab), len(vocab) + 1
    (dest / "vocab.json").write_text(json.dumps(vocab))
    (dest / "merges.txt").write_text("#version: 0.2\n")
    CLIPTokenizer(str(dest / "vocab.json"), str(dest / "merges.txt")).save_pretrained(clip_dir)
    eot = vocab["<|endoftext|>"]
    cfg = CLIPConfig(text_config=dict(bos_token_id=vocab["<|startoftext|>"], eos_token_id=eot, pad_token_id=eot))
    CLIPModel(cfg).eval().save_pretrained(clip_dir)  # ViT-B/32 shapes, 151 M parameters
    ClipImages().save_pretrained(clip_dir)
    # BLIP-base: BERT-sized WordPiece vocabulary with [DEC] where BlipConfig expects it
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(30517)] + ["[DEC]"]
    (dest / "vocab.txt").write_text("\n".join(words + list(string.ascii_lowercase)) + "\n")
    tok = BertTokenizer(str(dest / "vocab.txt"))
    tok.add_special_tokens({"bos_token": "[DEC]"})
    BlipForConditionalGeneration(BlipConfig()).eval().save_pretrained(blip_dir)  # ViT-B/16 at 384 px + BERT-base
    BlipProcessor(image_processor=BlipImages(), tokenizer=tok).save_pretrained(blip_dir)
    return {"clip": clip_dir, "caption": blip_dir}


def configure(data_dir: Path, models: dict[str, Path], models_dir: Path, runtime: str, device: str) -> dict:
    return {"clip_model": str(models["clip"]), "caption_model": str(models["caption"]), "models_dir": str(models_dir),
            "model_runtime": runtime, "device": device, "zeroconf": False, "log_requests": False}


# --- the old order, for --baseline ---------------------------------------------------------------
def patch_process(baseline: bool) -> None:
    """Force caption length (random weights); for the baseline, caption inside analysis, before storing."""
    from jaicat.pipeline.analysis import Analyser
    from jaicat.models.captioner import Captioner

    Captioner.min_new_tokens = Captioner.max_new_tokens = CAPTION_WORDS
    if baseline and "_bench_original" not in Analyser.__dict__:
        analyse = Analyser.analyse

        def analyse_with_captions_first(self, photos):
            self.caption(photos)  # the old pipeline: captions computed before the photo was stored
            return analyse(self, photos)

        Analyser._bench_original = analyse
        Analyser.analyse = analyse_with_captions_first


def unpatch_process() -> None:
    from jaicat.pipeline.analysis import Analyser

    if "_bench_original" in Analyser.__dict__:
        Analyser.analyse = Analyser._bench_original
        del Analyser._bench_original


# --- per-stage timing ----------------------------------------------------------------------------
class StageClock:
    """Wraps functions to add up the wall time spent in them (per stage name)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.items: dict[str, int] = defaultdict(int)
        self._undo: list = []

    def wrap(self, owner, attr: str, stage: str, count=lambda args: 1) -> None:
        real = getattr(owner, attr)

        def timed(*args, **kw):
            t0 = time.perf_counter()
            try:
                return real(*args, **kw)
            finally:
                self.seconds[stage] += time.perf_counter() - t0
                self.calls[stage] += 1
                self.items[stage] += count(args)

        setattr(owner, attr, timed)
        self._undo.append((owner, attr, real))

    def restore(self) -> None:
        for owner, attr, real in reversed(self._undo):
            setattr(owner, attr, real)
        self._undo.clear()


def throughput(name: str, photos: list[Path], models: dict[str, Path], models_dir: Path, runtime: str,
               device: str, baseline: bool, work: Path, phones: int = 1) -> dict:
    from jaicat.config import load_settings
    from jaicat.db import Photo, database
    from jaicat.people import persons
    from jaicat.photos import ingest
    from jaicat.pipeline import analysis
    from jaicat.models import captioner, clip, tagger
    from jaicat.runtime import Runtime

    data = work / f"{name}-inproc"
    settings = load_settings(data_dir=data, env={}, **configure(data, models, models_dir, runtime, device))
    settings.ensure_dirs()
    patch_process(baseline)
    rt = Runtime(settings).start()
    a = rt.worker.analyser
    t0 = time.perf_counter()
    loaded = [a.clip(), a.tagger(), a.captioner(), a.people()]
    loaded[1].text_matrix()
    rt.worker.ready.wait(600)  # a server that is up: the worker has loaded what analysis needs
    load_s = time.perf_counter() - t0
    clock = StageClock()
    n_of = lambda args: len(args[1]) if len(args) > 1 else 1  # noqa: E731 - (self, batch) -> batch size
    clock.wrap(ingest, "ingest_file", "ingest (hash, decode, EXIF, thumbnails)")
    clock.wrap(analysis.Analyser, "decode_one", "decode for the models")
    clock.wrap(clip.ClipEncoder, "embed_images", "CLIP image embedding", n_of)
    clock.wrap(tagger.ZeroShotTagger, "tag", "zero-shot tags", n_of)
    clock.wrap(persons, "detect_photo_faces", "faces (fast pass)")
    clock.wrap(analysis.Analyser, "store", "store + suggestion", n_of)
    clock.wrap(captioner.Captioner, "caption", "captions (separate pass)", n_of)
    clock.wrap(analysis.Analyser, "caption", "caption pass (decode + captions + store)", n_of)
    try:
        t_start = time.perf_counter()
        send_all(photos, phones, lambda f: ingest.ingest_file(f, settings, source_device=f"phone-{hash(f) % phones}"))
        rt.worker.wake()
        n = len(photos)
        while Photo.select().where(Photo.analysed_at.is_null(False)).count() < n:
            time.sleep(0.02)
        t_analysed = time.perf_counter()
        deadline = time.monotonic() + 900
        while Photo.caption_pending().count() and time.monotonic() < deadline:
            time.sleep(0.05)
        t_captioned = time.perf_counter()
        captioned = Photo.select().where(Photo.caption.is_null(False)).count()
        failed = Photo.select().where(Photo.analysis_error.is_null(False)).count()
    finally:
        rt.close()
        clock.restore()
        unpatch_process()
        if not database.is_closed():
            database.close()
    caption_busy = clock.seconds.get("captions (separate pass)", 0.0)
    out = {
        "load_s": load_s, "runtime": {"clip": loaded[0].runtime, "caption": loaded[2].runtime},
        "photos": n, "failed": failed, "analysed_s": t_analysed - t_start, "captioned_s": t_captioned - t_start,
        "photos_per_s": n / (t_analysed - t_start), "captions": captioned,
        "captions_per_s": captioned / caption_busy if caption_busy else 0.0,
        "stages": {k: (clock.seconds[k], clock.items[k]) for k in clock.seconds},
    }
    return out


def send_all(photos: list[Path], phones: int, send) -> None:
    """Each photo through `send`, from `phones` senders at once (one: in this thread, in order)."""
    if phones <= 1:
        for f in photos:
            send(f)
        return
    from concurrent.futures import ThreadPoolExecutor

    from jaicat.db import database

    def one(f: Path) -> None:
        try:
            send(f)
        finally:
            if not database.is_closed():
                database.close()

    with ThreadPoolExecutor(max_workers=phones, thread_name_prefix="phone") as pool:
        list(pool.map(one, photos))


# --- the real server -----------------------------------------------------------------------------
SERVER = """
import sys
sys.path.insert(0, {server!r}); sys.path.insert(0, {bench!r})
import pipeline as bench
bench.patch_process({baseline!r})
from jaicat.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def latency(name: str, photos: list[Path], models: dict[str, Path], models_dir: Path, runtime: str, device: str,
            baseline: bool, work: Path) -> dict:
    import requests
    import websocket

    data = work / f"{name}-server"
    data.mkdir(parents=True)
    cfg = configure(data, models, models_dir, runtime, device)
    (data / "jaicat.toml").write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in cfg.items()))
    script = work / f"{name}-serve.py"
    script.write_text(SERVER.format(server=str(ROOT / "server"), bench=str(Path(__file__).resolve().parent),
                                    baseline=baseline))
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAICAT_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(work / f"{name}-server.log", "wb")
    proc = subprocess.Popen([sys.executable, str(script), "--data-dir", str(data), "serve", "--host", "127.0.0.1",
                             "--port", str(port), "--no-zeroconf"], stdout=log, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)  # its own process group: see the end of the run
    times: list[float] = []
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((work / f"{name}-server.log").read_text(errors="replace")[-3000:])
            try:
                if requests.get(url + "/api/health", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        out = subprocess.run([sys.executable, script, "--data-dir", str(data), "pair", "--no-qr"],
                             capture_output=True, text=True, env=env, timeout=120).stdout
        code = re.search(r"Pairing code: ([A-Z0-9]{6})", out).group(1)
        token = requests.post(url + "/api/pair", json={"code": code, "name": "bench"}, timeout=10).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        ws = websocket.create_connection(f"ws://127.0.0.1:{port}/ws?token={token}", timeout=600)
        events: list[tuple[float, dict]] = []
        cond = threading.Condition()

        def listen():
            while True:
                try:
                    ev = json.loads(ws.recv())
                except Exception:  # noqa: BLE001 - closed at the end
                    return
                with cond:
                    events.append((time.perf_counter(), ev))
                    cond.notify_all()

        threading.Thread(target=listen, daemon=True).start()

        def wait_for(kind: str, photo_id: int, timeout: float = 600) -> float | None:
            end = time.monotonic() + timeout
            with cond:
                while time.monotonic() < end:
                    for t, ev in events:
                        if ev.get("type") == kind and ev.get("photo_id") == photo_id:
                            return t
                    cond.wait(0.5)
            return None

        for i, f in enumerate(photos):
            body = f.read_bytes()
            r = requests.post(url + "/api/uploads", headers=auth, timeout=30,
                              json={"filename": f"bench_{i}.jpg", "size": len(body),
                                    "sha256": hashlib.sha256(body).hexdigest()})
            up = r.json()
            r = requests.patch(f"{url}/api/uploads/{up['id']}?offset=0", data=body, timeout=120,
                               headers={**auth, "Content-Type": "application/octet-stream"})
            t_done = time.perf_counter()
            pid = r.json()["photo_id"]
            t_sugg = wait_for("suggestion.ready", pid)
            if t_sugg is None:
                raise RuntimeError(f"no suggestion for photo {pid}")
            ms = (t_sugg - t_done) * 1000
            if i > 0:  # the first upload also loads the models and exports them: not an idle server
                times.append(ms)
            wait_for("photo.captioned", pid)  # idle again before the next upload
        ws.close()
    finally:
        t_stop = time.perf_counter()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            print("  server did not stop within 20 s of SIGTERM; killed", flush=True)
            proc.kill()
            proc.wait()
        stop_s = time.perf_counter() - t_stop
        # anything the server started that outlived it (the thorough face pass's process must not); a
        # zombie whose parent is gone only waits to be reaped
        try:
            left = subprocess.run(["ps", "-o", "pid=,stat=,args=", "-g", str(proc.pid)], capture_output=True,
                                  text=True, timeout=10).stdout.splitlines()
        except (OSError, subprocess.SubprocessError):
            left = []
        left = [row.strip() for row in left if not row.split()[1].startswith("Z")]
        if left:
            print(f"  {len(left)} processes of the server still ran after it stopped; killed: {left}", flush=True)
            os.killpg(proc.pid, 9)
        log.close()
    print(f"  server stopped {stop_s:.1f} s after SIGTERM", flush=True)
    return {"p50_ms": statistics.median(times), "max_ms": max(times), "n": len(times)}


# --- main ----------------------------------------------------------------------------------------
def report(name: str, tp: dict, lat: dict) -> str:
    print(f"\n== {name}: clip on {tp['runtime']['clip']}, captioner vision on {tp['runtime']['caption']} "
          f"(model load + export {tp['load_s']:.0f} s)")
    print(f"  {'stage':<44} {'ms/photo':>9} {'photos':>7}")
    for stage, (secs, items) in tp["stages"].items():
        print(f"  {stage:<44} {1000 * secs / max(1, items):>9.0f} {items:>7}")
    print(f"  {tp['photos']} photos analysed + suggested in {tp['analysed_s']:.1f} s ({tp['failed']} failed), "
          f"all captioned after {tp['captioned_s']:.1f} s; upload -> suggestion over {lat['n']} uploads: "
          f"p50 {lat['p50_ms']:.0f} ms, max {lat['max_ms']:.0f} ms")
    return (f"photos_per_s={tp['photos_per_s']:.2f} captions_per_s={tp['captions_per_s']:.2f} "
            f"upload_to_suggestion_p50_ms={lat['p50_ms']:.0f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=24, help="photos for the throughput run")
    ap.add_argument("--latency", type=int, default=6, help="uploads for the latency run (the first is warm-up)")
    ap.add_argument("--quick", action="store_true",
                    help="8 photos (all captioned), 4 uploads of which 3 are timed: the same measurements on "
                         "fewer photos")
    ap.add_argument("--baseline", action="store_true", help="also run the old configuration, in the same run")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--phones", type=int, default=1, help="phones sending photos at once in the throughput run")
    ap.add_argument("--runtime", default="auto", help="model_runtime of the current configuration")
    ap.add_argument("--cache", default=os.environ.get("JAICAT_BENCH_CACHE", "~/.cache/jaicat-bench"),
                    help="where the generated photos, random models and their exports are kept between runs")
    a = ap.parse_args()
    if a.quick:
        a.photos, a.latency = 8, 4
    import torch

    from ingest import make_photo  # bench/ingest.py: camera-like 4000x3000 JPEGs with EXIF

    print(f"jaicat pipeline bench: {os.cpu_count()} CPUs, torch {torch.__version__} ({torch.get_num_threads()} "
          f"threads), cuda={torch.cuda.is_available()}, device={a.device}, load average {os.getloadavg()[0]:.1f}",
          flush=True)
    t_all = time.perf_counter()
    cache = Path(a.cache).expanduser()
    with tempfile.TemporaryDirectory(prefix="jaicat-bench-", ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        files = []
        for i in range(a.photos + a.latency):
            f = cache / "photos" / f"cam_{i}.jpg"
            if not f.is_file():
                f.parent.mkdir(parents=True, exist_ok=True)
                make_photo(f.with_suffix(".part.jpg"), i)
                f.with_suffix(".part.jpg").replace(f)
            files.append(f)
        done = cache / "weights" / "complete"
        if not done.is_file():
            build_models(cache / "weights")
            done.write_text("ok\n")
        models = {"clip": cache / "weights" / "clip-vit-b32", "caption": cache / "weights" / "blip-base"}
        print(f"{len(files)} 12 MP JPEGs and the random-weight models ready in {time.perf_counter() - t0:.0f} s "
              f"(kept in {cache} with their exports)", flush=True)
        models_dir = cache / "models"  # exports and text matrices, shared by both runs and the servers
        runs = [("baseline", "torch", True)] if a.baseline else []
        runs.append(("current", a.runtime, False))
        lines = []
        for name, runtime, old in runs:
            t_run = time.perf_counter()
            tp = throughput(name, files[:a.photos], models, models_dir, runtime, a.device, old, work, a.phones)
            lat = latency(name, files[a.photos:], models, models_dir, runtime, a.device, old, work)
            lines.append((name, report(name, tp, lat)))
            print(f"  {name} configuration measured in {time.perf_counter() - t_run:.0f} s, load average "
                  f"{os.getloadavg()[0]:.1f}", flush=True)
    print(f"\ntotal {time.perf_counter() - t_all:.0f} s, load average at the end {os.getloadavg()[0]:.1f}")
    for name, line in lines[:-1]:
        print(f"{name}: {line}")
    print(lines[-1][1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
