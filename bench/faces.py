"""Face benchmark: detection recall, precision and photos/s per backend and pass on the labelled set;
the fast pass's speed on 12 MP photos; recognition on group photos; matching 10k known encodings.

    python bench/faces.py [--media ../shared/media] [--backends hog,onnx] [--threads 2]

- Detection, per backend and pass, on tests/media/faces_labelled (hand-checked boxes, photos of
  ~500 px and 12 MP phone-resolution composites): recall of faces >= 24 px, precision, photos/s.
  "fast" is the pipeline's pass (HOG at face_max_side); "thorough" the background pass at face_min_px
  within face_thorough_mpx; "both" what the catalogue holds after both (record_faces keeps a fast
  face the thorough pass does not find).
- Fast pass on 12 MP: decode (JPEG draft) + detect + encode, photos/s on 1 and `--threads` threads
  (dlib releases the GIL, so threads use the cores). Goal: >= 6 photos/s on 2 cores.
- Recognition on group photos (not portraits): people enrolled from faces/<Person>/, named on
  faces_groups/ photos whose people are known from the file name: precision of the names given,
  recall of the people present.
- Matching one face against 10k known encodings (goal < 1 ms).
- Encoder: ms a face, dlib's compute_face_descriptor vs dlib's ResNet on onnxruntime (people.resnet,
  a photo's faces as one batch), in one run on the labelled photos' faces, and the largest
  difference between the two encodings of a face.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from jaicat.config import Settings
from jaicat.errors import ModelUnavailable
from jaicat.people import detect, faces as faces_ml, persons
from jaicat.photos import imaging
from jaicat.photos.imaging import open_upright

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MEDIA = Path(os.environ.get("JAICAT_TEST_MEDIA", ROOT.parent / "shared" / "media"))
LABELLED = ROOT / "tests" / "media" / "faces_labelled"
sys.path.insert(0, str(ROOT / "tests"))
from fixtures.labelled_faces import labelled_faces, score  # noqa: E402

GROUPS = {"kit_with_rose.jpg": {"Kit_Harington", "Rose_Leslie"},
          "obama_and_biden.jpg": {"Barack_Obama", "Joe_Biden"},
          "obama_partial_face.jpg": {"Barack_Obama"}}


def media_people(media: Path) -> dict[str, list[Path]]:
    return {d.name: sorted(f for f in d.iterdir() if f.is_file())
            for d in sorted((media / "faces").iterdir()) if d.is_dir()}


def _boxes(found, shape):
    h, w = shape[:2]
    return [(d.x * w, d.y * h, (d.x + d.w) * w, (d.y + d.h) * h) for d in found]


def run_pass(name: str, path: Path, settings: Settings, models, backend: str):
    """(DetectedFaces, boxes in stored pixels, seconds) of one pass on one photo, decoding included."""
    t = time.perf_counter()
    if name == "fast":
        image = np.asarray(open_upright(path, max_side=settings.face_max_side))
        found = faces_ml.detect_faces(image, model="hog", max_side=settings.face_max_side, models=models)
    else:
        image = np.asarray(open_upright(path, max_side=8000))
        found = faces_ml.detect_faces(image, model=backend, models=models, min_face=settings.face_min_px,
                                      max_pixels=settings.face_thorough_mpx * 1e6,
                                      onnx_model=settings.face_onnx_model)
    return found, _boxes(found, image.shape), time.perf_counter() - t


def _union(fast: list, thorough: list) -> list:
    """What record_faces keeps after both passes: every thorough box, and fast boxes none overlaps."""
    return thorough + [f for f in fast if not any(detect._iou(f, t)[0] >= 0.5 for t in thorough)]


def detection(settings: Settings, models, backends: list[str], baseline: bool = False) -> dict:
    truth = labelled_faces(ROOT / "tests" / "media")
    files = sorted(truth)
    results = {}
    run_pass("fast", LABELLED / files[0], settings, models, "hog")  # load the models outside the timing
    for label in (["fast/hog before"] if baseline else []) + ["fast/hog"]:
        fast = {}
        seconds = 0.0
        with fast_pass_as_before(settings) if label.endswith("before") else contextlib.nullcontext():
            for f in files:
                _, fast[f], s = run_pass("fast", LABELLED / f, settings, models, "hog")
                seconds += s
        r, p, c = score(fast, truth)
        results[label] = {"recall": r, "precision": p, "photos_per_s": len(files) / seconds, **c}
    for backend in backends:
        try:
            models.detector(backend, settings.face_onnx_model)
        except (ModelUnavailable, ValueError) as e:
            print(f"  {backend}: unavailable ({getattr(e, 'message', e)})")
            continue
        found, seconds = {}, 0.0
        for f in files:
            _, found[f], s = run_pass("thorough", LABELLED / f, settings, models, backend)
            seconds += s
        device = models.detector(backend, settings.face_onnx_model).device
        r, p, c = score(found, truth)
        results[f"thorough/{backend}/{device}"] = {"recall": r, "precision": p,
                                                   "photos_per_s": len(files) / seconds, **c}
        r, p, c = score({f: _union(fast[f], found[f]) for f in files}, truth)
        results[f"both/{backend}/{device}"] = {"recall": r, "precision": p, **c}
    print(f"detection on {len(files)} labelled photos ({sum(len(v) for v in truth.values())} faces; "
          f"recall counts faces >= {24} px):")
    for k, v in results.items():
        speed = f", {v['photos_per_s']:.2f} photos/s" if "photos_per_s" in v else ""
        print(f"  {k:22} recall {v['recall']:.3f}  precision {v['precision']:.3f}  "
              f"(tp {v['tp']}, fp {v['fp']}, missed {v['fn']}){speed}")
    return results


@contextlib.contextmanager
def fast_pass_as_before(settings: Settings):
    """The fast pass as it was before it was tuned, to compare in one run (`--baseline`): JPEGs
    decoded with a square draft request (1/2 DCT scale for a 12 MP photo), HOG on RGB, 1024 px."""
    saved = imaging.draft_size, detect.HogDetector.grey, settings.face_max_side
    imaging.draft_size = lambda size, max_side: (max_side, max_side)
    detect.HogDetector.grey = False
    settings.face_max_side = 1024
    try:
        yield
    finally:
        imaging.draft_size, detect.HogDetector.grey, settings.face_max_side = saved


def fast_pass(path: Path, settings: Settings, models) -> list:
    """The pipeline's fast pass on one photo file: decode (as Analyser.decode) + detect + encode."""
    return persons.detect_photo_faces(open_upright(path, max_side=settings.face_max_side), settings, models=models)


def fast_speed(settings: Settings, files: list[Path], threads: int, rounds: int, baseline: bool) -> dict:
    """Fast pass photos/s on 12 MP photos on 1 and `threads` threads (FaceModelPool, as the pipeline
    runs it); with `baseline` the pass as before too, rounds interleaved so both see the same load."""
    variants = (["before"] if baseline else []) + ["now"]
    pools = {n: faces_ml.FaceModelPool(n) for n in sorted({1, threads})}
    seconds = {(v, n): 0.0 for v in variants for n in pools}
    photos = {(v, n): 0 for v in variants for n in pools}
    for pool in pools.values():
        pool.map(lambda f, m: fast_pass(f, settings, m), files * pool.size)  # load every thread's models
    load = os.getloadavg()
    for _ in range(rounds):
        for n, pool in pools.items():
            for v in variants:
                with fast_pass_as_before(settings) if v == "before" else contextlib.nullcontext():
                    t = time.perf_counter()
                    pool.map(lambda f, m: fast_pass(f, settings, m), files * n)
                    seconds[v, n] += time.perf_counter() - t
                    photos[v, n] += len(files) * n
    rates = {k: photos[k] / seconds[k] for k in seconds}
    print(f"fast pass on {len(files)} 12 MP photos, {rounds} rounds (face_max_side {settings.face_max_side}; "
          f"load average before {load[0]:.2f}, after {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores):")
    for n in pools:
        line = "  ".join(f"{v} {rates[v, n]:.2f}" for v in variants)
        ratio = f"  (x{rates['now', n] / rates['before', n]:.2f})" if baseline else ""
        print(f"  {n} thread{'s' if n > 1 else ''}: photos/s {line}{ratio}  (decode + detect + encode; "
              f"goal >= 6 on 2 cores)")
    stages = {}
    with pools[1].lease() as m:
        for v in variants:
            with fast_pass_as_before(settings) if v == "before" else contextlib.nullcontext():
                decode = detect_ms = 0.0
                for _ in range(rounds):
                    for f in files:
                        t = time.perf_counter()
                        image = open_upright(f, max_side=settings.face_max_side)
                        t2 = time.perf_counter()
                        persons.detect_photo_faces(image, settings, models=m)
                        decode, detect_ms = decode + t2 - t, detect_ms + time.perf_counter() - t2
                n = rounds * len(files)
                stages[v] = {"decode_ms": 1000 * decode / n, "detect_encode_ms": 1000 * detect_ms / n}
                print(f"  {v}: decode {stages[v]['decode_ms']:.0f} ms, detect + encode "
                      f"{stages[v]['detect_encode_ms']:.0f} ms a photo (1 thread)")
    return {"photos_per_s": {f"{v}/{n}": r for (v, n), r in rates.items()}, "stages": stages,
            "load_average": load}


def family_12mp(tmp: Path) -> list[Path]:
    """The labelled set's snapshots of families and friends (2-6 faces each), enlarged to a 12 MP
    phone photo (about 4000 x 3000, JPEG quality 90): the fast pass decodes, detects and encodes
    real faces at phone resolution, where the composites above are mostly small faces it leaves to
    the thorough pass."""
    out = []
    for f in sorted(LABELLED.glob("20*.jpg")):
        with Image.open(f) as im:
            scale = (12e6 / (im.width * im.height)) ** 0.5
            big = im.convert("RGB").resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
        path = tmp / f.name
        big.save(path, quality=90)
        out.append(path)
    return out


def recognition(media: Path, settings: Settings, models, backend: str) -> dict:
    """Enrol each person from faces/<Person>/ (largest face a photo), then name the faces of group photos."""
    people = media_people(media)
    encodings, ids = [], []
    for name, files in people.items():
        for f in files:
            found, _, _ = run_pass("fast", f, settings, models, "hog")
            if found:
                encodings.append(max(found, key=lambda d: d.w * d.h).encoding)
                ids.append(name)
    names = sorted(set(ids))
    matcher = faces_ml.FaceMatcher(np.array(encodings), [names.index(i) for i in ids])
    correct = wrong = present = hit = 0
    for file, who in GROUPS.items():
        path = media / "faces_groups" / file
        if not path.is_file():
            continue
        fast, fb, _ = run_pass("fast", path, settings, models, "hog")
        thorough, tb, _ = run_pass("thorough", path, settings, models, backend)
        keep = thorough + [d for d, b in zip(fast, fb, strict=True) if not any(detect._iou(b, t)[0] >= 0.5 for t in tb)]
        named = [names[m.person_id] for m in matcher.match_many([d.encoding for d in keep], settings.face_tolerance) if m]
        correct += sum(1 for n in named if n in who)
        wrong += sum(1 for n in named if n not in who)
        present += len(who)
        hit += len(who & set(named))
    precision, recall = correct / max(1, correct + wrong), hit / max(1, present)
    print(f"recognition on {len(GROUPS)} group photos ({present} people present; {len(encodings)} enrolled "
          f"encodings of {len(names)} people): precision {precision:.3f}, recall {recall:.3f}")
    return {"precision": precision, "recall": recall}


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


def encoder_speed(rounds: int) -> dict:
    """ms a face of dlib's encoder and of the onnxruntime port, on the same faces in one run."""
    import dlib

    from jaicat.people import resnet

    frm = detect.dlib_models_dir()
    det = dlib.get_frontal_face_detector()
    shape_predictor = dlib.shape_predictor(str(frm / "shape_predictor_5_face_landmarks.dat"))
    reference = dlib.face_recognition_model_v1(str(frm / "dlib_face_recognition_resnet_model_v1.dat"))
    port = resnet.ResNetEncoder(frm / "dlib_face_recognition_resnet_model_v1.dat")
    photos = []
    for f in sorted(LABELLED.glob("*.jpg")):
        image = np.ascontiguousarray(np.asarray(open_upright(f, max_side=1600).convert("RGB")))
        shapes = [shape_predictor(image, r) for r in det(image, 0)]
        if shapes:
            photos.append((image, shapes))
    faces = sum(len(s) for _, s in photos)
    t_dlib = t_port = 0.0
    worst_distance = worst_component = 0.0
    for _ in range(rounds):
        for image, shapes in photos:
            t = time.perf_counter()
            ref = np.array([reference.compute_face_descriptor(image, s, 1) for s in shapes], dtype=np.float32)
            t_dlib += time.perf_counter() - t
            t = time.perf_counter()
            chips = dlib.get_face_chips(image, dlib.full_object_detections(shapes), resnet.CHIP_SIZE,
                                        resnet.CHIP_PADDING)
            got = port.encode_chips(np.stack(chips))
            t_port += time.perf_counter() - t
            worst_component = max(worst_component, float(np.abs(got - ref).max()))
            worst_distance = max(worst_distance, float(np.linalg.norm(got - ref, axis=1).max()))
    out = {"faces": faces, "photos": len(photos), "dlib_ms": 1000 * t_dlib / faces / rounds,
           "onnxruntime_ms": 1000 * t_port / faces / rounds,
           "max_component_diff": worst_component, "max_distance": worst_distance}
    print(f"encoder, {faces} faces on {len(photos)} photos, {rounds} rounds (1 thread): dlib "
          f"{out['dlib_ms']:.0f} ms a face, onnxruntime {out['onnxruntime_ms']:.1f} ms a face (chip "
          f"included, x{out['dlib_ms'] / out['onnxruntime_ms']:.1f}); largest difference {worst_component:.1e} "
          f"a component, {worst_distance:.1e} euclidean")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", type=Path, default=DEFAULT_MEDIA)
    ap.add_argument("--backends", default="hog,onnx", help="thorough-pass backends to measure (hog, cnn, onnx)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--baseline", action="store_true",
                    help="also measure the fast pass as before it was tuned (recall, precision, photos/s), in this run")
    ap.add_argument("--models-dir", type=Path, default=None, help="where `jaicat models pull` put the onnx detector")
    ap.add_argument("--tolerance", type=float, default=faces_ml.DEFAULT_TOLERANCE)
    ap.add_argument("--known", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--skip", default="", help="comma list of sections to skip: detection,speed,recognition,match,encoder")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()

    settings = Settings()
    settings.face_tolerance = args.tolerance
    models = faces_ml.FaceModels(models_dir=args.models_dir or settings.models)
    skip = set(args.skip.split(","))
    out: dict = {}
    if "detection" not in skip:
        out["detection"] = detection(settings, models, [b for b in args.backends.split(",") if b], args.baseline)
    if "speed" not in skip:
        out["fast_12mp"] = fast_speed(settings, [LABELLED / "phone_2x.jpg", LABELLED / "phone_small.jpg"],
                                      args.threads, args.rounds, args.baseline)
        with tempfile.TemporaryDirectory() as tmp:
            family = family_12mp(Path(tmp))
            found = [len(fast_pass(f, settings, models)) for f in family]
            print(f"family photos enlarged to 12 MP: {sum(found)} faces found by the fast pass in {len(family)} photos")
            out["fast_12mp_family"] = fast_speed(settings, family, args.threads, args.rounds, False)
            out["fast_12mp_family"]["faces"] = sum(found)
    if "recognition" not in skip:
        out["recognition"] = recognition(args.media, settings, models, "hog")
    if "match" not in skip:
        people = media_people(args.media)
        found = [run_pass("fast", f, settings, models, "hog")[0] for fs in people.values() for f in fs]
        quality(people, dict(zip([f for fs in people.values() for f in fs], found, strict=True)), args.tolerance)
        real = np.array([d.encoding for ds in found for d in ds])
        match_speed(real, args.known, args.queries)
    if "encoder" not in skip:
        out["encoder"] = encoder_speed(max(1, args.rounds // 3))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
