"""Face benchmark: detection recall, precision and photos/s per backend and pass on the labelled set;
the one pass's speed on 12 MP photos; recognition on group photos; matching 10k known encodings.

    python bench/faces.py [--media ../shared/media] [--one yunet,hog] [--backends yunet,onnx] [--threads 2]

- Detection, per backend and pass, on tests/media/faces_labelled (hand-checked boxes, photos of
  ~500 px and 12 MP phone-resolution composites): recall of faces >= 24 px, precision, photos/s.
  "one/B" is the pipeline's one pass with backend B (at face_max_side), on the labelled photos at
  their size and on the family photos enlarged to 12 MP ("one/B 12MP"), with how many photos it
  doubts (they get the thorough pass); "thorough" the background pass at face_min_px within
  face_thorough_mpx; "both" what the catalogue holds after both (record_faces keeps a one-pass face
  the thorough pass does not find).
- One pass on 12 MP: decode (JPEG draft) + detect + encode, photos/s on 1 and `--threads` threads
  (FaceModelPool, as the pipeline runs it), with face_model = the first of `--one`.
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
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image

from jaicat.config import Settings
from jaicat.errors import ModelUnavailable
from jaicat.people import detect, faces as faces_ml, persons
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
    """(DetectedFaces, boxes in stored pixels, seconds, doubted) of one pass on one photo, decoding
    included; `doubted`: the one pass leaves the photo to the thorough pass (persons.pass_after)."""
    t = time.perf_counter()
    doubted = False
    if name == "one":
        one = faces_ml.one_pass(np.asarray(open_upright(path, max_side=settings.face_max_side)), backend,
                                settings.face_max_side, models=models)
        found = one.faces
    else:
        found = faces_ml.detect_faces(np.asarray(open_upright(path, max_side=8000)), model=backend, models=models,
                                      min_face=settings.face_min_px, max_pixels=settings.face_thorough_mpx * 1e6,
                                      onnx_model=settings.face_onnx_model)
    seconds = time.perf_counter() - t
    with Image.open(path) as im:  # the stored size (the labels' pixels), from the header
        stored = SimpleNamespace(width=im.width, height=im.height)
    if name == "one":
        doubted = persons.pass_after(one, stored, settings) == 1
    return found, _boxes(found, (stored.height, stored.width)), seconds, doubted


def _union(fast: list, thorough: list) -> list:
    """What record_faces keeps after both passes: every thorough box, and fast boxes none overlaps."""
    return thorough + [f for f in fast if not any(detect._iou(f, t)[0] >= 0.5 for t in thorough)]


def one_pass_scores(folder: Path, truth: dict, settings: Settings, models, backend: str) -> dict:
    """Recall, precision, photos/s and photos doubted of the one pass with `backend` on `truth`'s photos."""
    found, seconds, doubted = {}, 0.0, set()
    run_pass("one", folder / sorted(truth)[0], settings, models, backend)  # load the models outside the timing
    for f in sorted(truth):
        _, found[f], s, d = run_pass("one", folder / f, settings, models, backend)
        seconds += s
        if d:
            doubted.add(f)
    r, p, c = score(found, truth)
    return {"recall": r, "precision": p, "photos_per_s": len(truth) / seconds, "doubted": len(doubted),
            "photos": len(truth), **c, "found": found, "doubted_files": doubted}


def detection(settings: Settings, models, one: list[str], backends: list[str], big: tuple) -> dict:
    truth = labelled_faces(ROOT / "tests" / "media")
    files = sorted(truth)
    results = {}
    for backend in one:
        try:
            models.detector(faces_ml.resolve_model(backend))
        except (ModelUnavailable, ValueError) as e:
            print(f"  one pass {backend}: unavailable ({getattr(e, 'message', e)})")
            continue
        results[f"one/{backend}"] = one_pass_scores(LABELLED, truth, settings, models, backend)
        results[f"one/{backend} 12MP"] = one_pass_scores(big[0], big[1], settings, models, backend)
    fast, doubted = results[f"one/{one[0]}"]["found"], results[f"one/{one[0]}"]["doubted_files"]
    for backend in backends:
        try:
            models.detector(backend, settings.face_onnx_model)
        except (ModelUnavailable, ValueError) as e:
            print(f"  {backend}: unavailable ({getattr(e, 'message', e)})")
            continue
        found, seconds = {}, 0.0
        for f in files:
            _, found[f], s, _ = run_pass("thorough", LABELLED / f, settings, models, backend)
            seconds += s
        device = models.detector(backend, settings.face_onnx_model).device
        r, p, c = score(found, truth)
        results[f"thorough/{backend}/{device}"] = {"recall": r, "precision": p,
                                                   "photos_per_s": len(files) / seconds, **c}
        r, p, c = score({f: _union(fast[f], found[f]) for f in files}, truth)
        results[f"both/{one[0]}+{backend}/{device}"] = {"recall": r, "precision": p, **c}
        r, p, c = score({f: _union(fast[f], found[f]) if f in doubted else fast[f] for f in files}, truth)
        results[f"pipeline/{one[0]}+{backend}"] = {"recall": r, "precision": p, **c}  # thorough where doubted
    print(f"detection on {len(files)} labelled photos ({sum(len(v) for v in truth.values())} faces) and "
          f"{len(big[1])} enlarged to 12 MP; recall counts faces >= {24} px:")
    for k, v in results.items():
        v.pop("found", None), v.pop("doubted_files", None)
        speed = f", {v['photos_per_s']:.2f} photos/s" if "photos_per_s" in v else ""
        doubted = f", {v['doubted']}/{v['photos']} doubted" if "doubted" in v else ""
        print(f"  {k:24} recall {v['recall']:.3f}  precision {v['precision']:.3f}  "
              f"(tp {v['tp']}, fp {v['fp']}, missed {v['fn']}){speed}{doubted}")
    return results


def fast_pass(path: Path, settings: Settings, models) -> list:
    """The pipeline's one pass on one photo file: decode (as Analyser.decode) + detect + encode."""
    return persons.detect_photo_faces(open_upright(path, max_side=settings.face_max_side), settings,
                                      models=models).faces


def fast_speed(settings: Settings, files: list[Path], threads: int, rounds: int) -> dict:
    """One pass photos/s on 12 MP photos on 1 and `threads` threads (FaceModelPool, as the pipeline runs it)."""
    pools = {n: faces_ml.FaceModelPool(n) for n in sorted({1, threads})}
    seconds = {n: 0.0 for n in pools}
    photos = {n: 0 for n in pools}
    for pool in pools.values():
        pool.map(lambda f, m: fast_pass(f, settings, m), files * pool.size)  # load every thread's models
    load = os.getloadavg()
    for _ in range(rounds):
        for n, pool in pools.items():
            t = time.perf_counter()
            pool.map(lambda f, m: fast_pass(f, settings, m), files * n)
            seconds[n] += time.perf_counter() - t
            photos[n] += len(files) * n
    rates = {n: photos[n] / seconds[n] for n in seconds}
    print(f"one pass ({settings.face_model}) on {len(files)} 12 MP photos, {rounds} rounds (face_max_side "
          f"{settings.face_max_side}; load average before {load[0]:.2f}, after {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} cores):")
    for n in pools:
        print(f"  {n} thread{'s' if n > 1 else ''}: {rates[n]:.2f} photos/s (decode + detect + encode)")
    with pools[1].lease() as m:
        decode = detect_ms = 0.0
        for _ in range(rounds):
            for f in files:
                t = time.perf_counter()
                image = open_upright(f, max_side=settings.face_max_side)
                t2 = time.perf_counter()
                persons.detect_photo_faces(image, settings, models=m)
                decode, detect_ms = decode + t2 - t, detect_ms + time.perf_counter() - t2
        n = rounds * len(files)
        stages = {"decode_ms": 1000 * decode / n, "detect_encode_ms": 1000 * detect_ms / n}
        print(f"  decode {stages['decode_ms']:.0f} ms, detect + encode {stages['detect_encode_ms']:.0f} ms a photo "
              f"(1 thread)")
    return {"photos_per_s": rates, "stages": stages, "load_average": load}


def family_12mp(tmp: Path) -> tuple[Path, dict]:
    """The labelled set's snapshots of families and friends (2-7 faces each), enlarged to a 12 MP
    phone photo (about 4000 x 3000, JPEG quality 90), and their boxes enlarged with them: the one
    pass decodes, detects and encodes real faces at phone resolution."""
    labels = labelled_faces(ROOT / "tests" / "media")
    truth = {}
    for f in sorted(LABELLED.glob("20*.jpg")):
        with Image.open(f) as im:
            scale = (12e6 / (im.width * im.height)) ** 0.5
            big = im.convert("RGB").resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
        big.save(tmp / f.name, quality=90)
        truth[f.name] = [tuple(v * scale for v in b) for b in labels[f.name]]
    return tmp, truth


def recognition(media: Path, settings: Settings, models, backend: str) -> dict:
    """Enrol each person from faces/<Person>/ (largest face a photo), then name the faces of group photos."""
    people = media_people(media)
    encodings, ids = [], []
    for name, files in people.items():
        for f in files:
            found, _, _, _ = run_pass("one", f, settings, models, settings.face_model)
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
        fast, fb, _, _ = run_pass("one", path, settings, models, settings.face_model)
        thorough, tb, _, _ = run_pass("thorough", path, settings, models, backend)
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
    ap.add_argument("--one", default="yunet,hog", help="one-pass backends to measure (yunet, hog, cnn, onnx); "
                    "the first is face_model for the speed, recognition and match sections")
    ap.add_argument("--backends", default="yunet,hog,onnx",
                    help="thorough-pass backends to measure (yunet, hog, cnn, onnx)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--models-dir", type=Path, default=None, help="where `jaicat models pull` put the onnx detector")
    ap.add_argument("--tolerance", type=float, default=faces_ml.DEFAULT_TOLERANCE)
    ap.add_argument("--known", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--skip", default="", help="comma list of sections to skip: detection,speed,recognition,match,encoder")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()

    settings = Settings()
    settings.face_tolerance = args.tolerance
    one = [b for b in args.one.split(",") if b]
    settings.face_model = one[0]
    models = faces_ml.FaceModels(models_dir=args.models_dir or settings.models)
    skip = set(args.skip.split(","))
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        big = family_12mp(Path(tmp))
        if "detection" not in skip:
            out["detection"] = detection(settings, models, one, [b for b in args.backends.split(",") if b], big)
        if "speed" not in skip:
            out["one_12mp_composites"] = fast_speed(settings, [LABELLED / "phone_2x.jpg", LABELLED / "phone_small.jpg"],
                                                    args.threads, args.rounds)
            out["one_12mp_family"] = fast_speed(settings, sorted(big[0].glob("*.jpg")), args.threads, args.rounds)
    if "recognition" not in skip:
        out["recognition"] = recognition(args.media, settings, models, faces_ml.resolve_model(settings.face_model))
    if "match" not in skip:
        people = media_people(args.media)
        found = [run_pass("one", f, settings, models, settings.face_model)[0] for fs in people.values() for f in fs]
        quality(people, dict(zip([f for fs in people.values() for f in fs], found, strict=True)), args.tolerance)
        real = np.array([d.encoding for ds in found for d in ds])
        match_speed(real, args.known, args.queries)
    if "encoder" not in skip:
        out["encoder"] = encoder_speed(max(1, args.rounds // 3))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
