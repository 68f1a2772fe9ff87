"""Face detection, 128-d encodings and matching with dlib (the face_recognition models, used directly).

Pure ML: numpy arrays in, boxes and vectors out; no Flask, no peewee.

- Detection: one of people.detect's backends; "auto" is YuNet where its wheel imports, else dlib's
  MMOD CNN where dlib has CUDA, else dlib's HOG. The one pass (`one_pass`) runs it on a copy
  downscaled to `max_side` and says whether it is sure of the photo (`doubt`); boxes are mapped back
  to the full image and returned normalised (0-1) on it.
- Encodings: 5-point landmarks + dlib's ResNet, the same pipeline as face_recognition's
  `face_encodings(model="small")`. The ResNet's weights are read from dlib's model file and run on
  onnxruntime (people.resnet: the same encodings within 1e-6, ~15x faster than a dlib without BLAS);
  dlib's own encoder is the fallback. Two encodings of one person lie within euclidean distance 0.6
  (the threshold dlib's model was trained and evaluated with: 99.38% on LFW).
- Matching: `FaceMatcher` holds every known encoding in one float32 matrix, so matching a face against
  10k encodings is a single matrix-vector product.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from . import detect, resnet

log = logging.getLogger(__name__)

ENCODING_SIZE = 128
DEFAULT_TOLERANCE = 0.6
# Unknown faces closer than this are one cluster; tighter than the match tolerance because a wrong
# cluster costs the user a whole group of wrong names, not one.
CLUSTER_THRESHOLD = 0.5
# Faces are encoded on an image no larger than this (the 150 px chip needs no more; a 200 MP photo
# would otherwise cost 600 MB as an array).
ENCODE_MAX_SIDE = 3200
# The thorough pass looks for faces this small (px on the full photo) with at most this much detector
# work per photo (pixels at the scale it runs; bounds the time on a 200 MP photo).
THOROUGH_MIN_FACE = 24
THOROUGH_MAX_PIXELS = 48e6
DEFAULT_ONNX_DETECTOR = "immich-app/buffalo_l"
# The one pass is unsure of a photo (`doubt`) with this many boxes scored below the threshold, with this
# many faces (a crowd), or with a face narrower than AT_THE_LIMIT windows at the scale it ran.
DOUBTFUL_BOXES = 2
CROWD = 10
AT_THE_LIMIT = 1.5
SMALL_BATCH = 16  # matching this many faces or fewer avoids BLAS threads (see FaceMatcher._squared)


@dataclass(frozen=True)
class DetectedFace:
    """One face: box normalised (0-1) on the upright image, its 128-d encoding (float32)."""

    x: float
    y: float
    w: float
    h: float
    encoding: np.ndarray
    score: float = 0.0  # detector confidence (HOG: SVM margin, CNN: MMOD score, YuNet and SCRFD: 0-1)


@dataclass(frozen=True)
class OnePass:
    """What the one pass found in a photo: its faces, and why a closer look may find more ("": sure)."""

    faces: list[DetectedFace]
    doubt: str = ""
    min_face: float = 0.0  # the smallest face it could find, as a fraction of the photo's long side


@dataclass(frozen=True)
class Match:
    person_id: int
    distance: float  # euclidean distance to the nearest known encoding of that person
    votes: int  # how many of the k nearest encodings are this person's


class FaceModels:
    """The face models of one process: the encoder (dlib's 5-point landmarks + ResNet) and one detector
    per backend, each loaded lazily once; encoder calls are serialised by a lock."""

    def __init__(self, models_dir=None, device: str = "auto") -> None:
        self._lock = threading.Lock()
        self._shape = None
        self._encoder = None
        self._port: resnet.ResNetEncoder | None = None
        self.encoder_runtime: str | None = None  # "onnxruntime" | "dlib", once loaded
        self.encoder_error: str | None = None
        self._detectors: dict[str, detect.FaceDetector] = {}
        self.models_dir = models_dir or "."
        self.device = device
        self.measured: dict[str, float] | None = None  # backend -> seconds per 12 MP thorough pass

    def detector(self, backend: str, onnx_model: str = DEFAULT_ONNX_DETECTOR) -> detect.FaceDetector:
        """The loaded detector of `backend` ("yunet", "hog", "cnn", "onnx"); ModelUnavailable if it cannot load."""
        key = f"{backend}:{onnx_model}" if backend == "onnx" else backend
        with self._lock:
            found = self._detectors.get(key)
            if found is None:
                cls = detect.BACKENDS.get(backend)
                if cls is None:
                    raise ValueError(f"unknown face detector {backend!r} (yunet, hog, cnn, onnx or auto)")
                name = onnx_model if backend == "onnx" else f"dlib-{backend}"
                found = self._detectors[key] = cls(name, self.models_dir, device=self.device, batch_size=4)
        return found.load()

    def _load_encoder(self) -> None:
        """The landmark model and the encoder, once: dlib's ResNet on onnxruntime (people.resnet), or
        dlib's own when that cannot load (logged once a process)."""
        import dlib

        if self._shape is not None:
            return
        frm = detect.dlib_models_dir()
        path = frm / "dlib_face_recognition_resnet_model_v1.dat"
        self._shape = dlib.shape_predictor(str(frm / "shape_predictor_5_face_landmarks.dat"))
        try:
            self._port = resnet.ResNetEncoder(path)
            self.encoder_runtime, self.encoder_error = "onnxruntime", None
        except Exception as e:  # noqa: BLE001 - any failure falls back to dlib's own encoder
            self._port = None
            self.encoder_runtime, self.encoder_error = "dlib", f"{type(e).__name__}: {e}"
            _warn_fallback_once(self.encoder_error)

    def _dlib_encoder(self):
        """dlib's own encoder (the fallback, and for num_jitters > 1), loaded on first use."""
        import dlib

        if self._encoder is None:
            path = detect.dlib_models_dir() / "dlib_face_recognition_resnet_model_v1.dat"
            self._encoder = dlib.face_recognition_model_v1(str(path))
        return self._encoder

    def encoder(self) -> dict:
        """Which encoder runs here: {"runtime": "onnxruntime" | "dlib", "error": why not onnxruntime}."""
        with self._lock:
            self._load_encoder()
            return {"runtime": self.encoder_runtime, "error": self.encoder_error}

    def encode(self, image: np.ndarray, boxes, num_jitters: int = 1) -> np.ndarray:
        """(n, 128) float32 encodings of the faces in `boxes` (pixel (l, t, r, b) on `image`).

        The faces of one photo go through the ResNet as one batch; with num_jitters > 1 (random
        jitter, dlib's own) or when the port did not load, dlib's compute_face_descriptor runs."""
        import dlib

        with self._lock:
            self._load_encoder()
            if not len(boxes):
                return np.empty((0, ENCODING_SIZE), dtype=np.float32)
            shapes = [self._shape(image, dlib.rectangle(int(left), int(top), int(right), int(bottom)))
                      for left, top, right, bottom in boxes]
            if self._port is not None and num_jitters <= 1:
                chips = dlib.get_face_chips(image, dlib.full_object_detections(shapes), resnet.CHIP_SIZE,
                                            resnet.CHIP_PADDING)
                return self._port.encode_chips(np.stack(chips))
            encoder = self._dlib_encoder()
            out = np.empty((len(boxes), ENCODING_SIZE), dtype=np.float32)
            for i, shape in enumerate(shapes):
                out[i] = np.asarray(encoder.compute_face_descriptor(image, shape, num_jitters))
        return out


_fallback_warned = threading.Event()


def _warn_fallback_once(error: str) -> None:
    """One warning a process when the ResNet port cannot load (each FaceModels of a pool would repeat it)."""
    if not _fallback_warned.is_set():
        _fallback_warned.set()
        log.warning("face encoder: dlib's ResNet on onnxruntime did not load (%s); using dlib's own, "
                    "about 15x slower on a CPU", error)


class FaceModelPool:
    """`size` FaceModels for the fast pass, so that many photos are detected and encoded at once:
    dlib's detectors and encoder are not thread-safe (each FaceModels serialises its calls), but they
    release the GIL, so one FaceModels a thread uses the cores. Each is loaded on first use (~30 MB)."""

    def __init__(self, size: int, models_dir=None, device: str = "auto") -> None:
        self.size = max(1, size)
        self.warmed = False
        self._free: queue.SimpleQueue[FaceModels] = queue.SimpleQueue()
        for _ in range(self.size):
            self._free.put(FaceModels(models_dir=models_dir, device=device))

    @contextlib.contextmanager
    def lease(self):
        """One FaceModels no other thread uses until the block ends (waits for one if all are out)."""
        models = self._free.get()
        try:
            yield models
        finally:
            self._free.put(models)

    def warm(self, backend: str) -> None:
        """Load every member's `backend` detector and encoder and run each once on a blank image, so the
        first photos after start are not the ones that wait for it (~0.5 s a member)."""
        blank = np.zeros((160, 160, 3), dtype=np.uint8)
        members = [self._free.get() for _ in range(self.size)]
        try:
            for models in members:
                detector = models.detector(backend)
                detector.predict([blank[:, :, 0] if detector.grey else blank])
                models.encode(blank, [(40, 40, 120, 120)])
            self.warmed = True
        finally:
            for models in members:
                self._free.put(models)

    def map(self, fn, items: list) -> list:
        """[fn(item, models) for item in items], `size` at a time, each call with a FaceModels of its own."""
        if self.size == 1 or len(items) <= 1:
            with self.lease() as models:
                return [fn(item, models) for item in items]

        def one(item):
            with self.lease() as models:
                return fn(item, models)

        with ThreadPoolExecutor(max_workers=min(self.size, len(items)), thread_name_prefix="faces") as pool:
            return list(pool.map(one, items))



def resolve_model(name: str) -> str:
    """"hog" | "cnn" | "onnx" | "yunet" | "auto" -> a backend. auto: YuNet where its wheel imports (the
    one pass's detector), else dlib's CNN where dlib has CUDA, else HOG (`choose_backend` measures
    the thorough pass's)."""
    name = (name or "hog").lower()
    if name == "auto":
        import dlib

        if detect.yuface is not None:
            return "yunet"
        return "cnn" if getattr(dlib, "DLIB_USE_CUDA", False) else "hog"
    if name not in detect.BACKENDS:
        raise ValueError(f"unknown face model {name!r} (yunet, hog, cnn, onnx or auto)")
    return name


def fast_scale(shape, max_side: int, enlarge: bool = True) -> float:
    """The one pass's scale: down to `max_side`, or (`enlarge`) 2x for a photo small enough to stay within it."""
    long_side = max(shape[:2])
    if enlarge and max_side and long_side * 2 <= max_side:
        return 2.0
    return min(1.0, max_side / long_side) if max_side else 1.0


def _resize(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Downscale so the long side is at most max_side; returns (array, factor full/small)."""
    from PIL import Image

    h, w = image.shape[:2]
    long_side = max(h, w)
    if not max_side or long_side <= max_side:
        return image, 1.0
    scale = max_side / long_side
    small = Image.fromarray(image).resize((max(1, round(w * scale)), max(1, round(h * scale))),
                                          Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(small), long_side / max_side


def detect_faces(
    image: np.ndarray,
    model: str = "hog",
    max_side: int = 1600,
    num_jitters: int = 1,
    *,
    models: FaceModels,
    min_face: float | None = None,
    max_pixels: float = THOROUGH_MAX_PIXELS,
    onnx_model: str = DEFAULT_ONNX_DETECTOR,
) -> list[DetectedFace]:
    """Detect and encode every face in an upright RGB uint8 array (H, W, 3).

    One pass (min_face None): the detector runs on a copy whose long side is at most `max_side` (a
    small photo is doubled while that stays within max_side where the detector's window is dlib's).
    Thorough pass: it runs at the scale that brings a `min_face` px face to its window, at most
    `max_pixels` of work, tiled (people.detect.find_boxes).
    Boxes come back normalised (0-1) on the full image; encodings are taken on the full image (at most
    ENCODE_MAX_SIDE) from 5-point landmarks inside each box.
    """
    image = _as_rgb(image)
    detector = models.detector(resolve_model(model), onnx_model)
    if min_face is None:
        scale = fast_scale(image.shape, max_side, detector.enlarge_small)
    else:
        scale = detect.scale_for(detector, image.shape, min_face, max_pixels)
    boxes = [b for b in detect.find_boxes(detector, image, scale) if is_sure(b, detector, scale)]
    return encode_boxes(image, boxes, models, num_jitters)


def one_pass(image: np.ndarray, model: str, max_side: int, *, models: FaceModels,
             onnx_model: str = DEFAULT_ONNX_DETECTOR) -> OnePass:
    """The analysis pipeline's face pass: `detect_faces` at `max_side`, and whether it is sure (`doubt`)."""
    image = _as_rgb(image)
    detector = models.detector(resolve_model(model), onnx_model)
    scale = fast_scale(image.shape, max_side, detector.enlarge_small)
    boxes = detect.find_boxes(detector, image, scale)
    sure = [b for b in boxes if is_sure(b, detector, scale)]
    return OnePass(faces=encode_boxes(image, sure, models), doubt=doubt(boxes, detector, scale),
                   min_face=detector.window / (scale * max(image.shape[:2])))


def doubt(boxes: list, detector: detect.FaceDetector, scale: float) -> str:
    """Why a closer look at a photo may find faces the one pass did not ("" when it is sure): several
    boxes it does not take (`is_sure`), a crowd, or a box from the threshold at the limit of the
    detector's window (the smaller faces beside it are under the window; it may be none). dlib's detectors score nothing below their
    threshold (no `floor`): they give no sign of what they missed, and are never sure."""
    if detector.floor is None:
        return "no doubt scores"
    doubtful = [b for b in boxes if not is_sure(b, detector, scale)]
    if len(doubtful) >= DOUBTFUL_BOXES:
        return "doubtful boxes"
    if len(boxes) - len(doubtful) >= CROWD:
        return "crowd"
    limit = [b for b in boxes if b[4] >= detector.threshold and _at_the_limit(b, detector, scale)]
    return "faces at the limit" if limit else ""


def _at_the_limit(box, detector: detect.FaceDetector, scale: float) -> bool:
    return (box[2] - box[0]) * scale < AT_THE_LIMIT * detector.window


def is_sure(box, detector: detect.FaceDetector, scale: float) -> bool:
    """Whether the one pass takes `box` (found at `scale`) for a face: scored from the detector's
    threshold, or from its `limit_threshold` where the box is at the limit of its window (YuNet's false
    hits on soft texture are there, at 0.7-0.85)."""
    limit = detector.limit_threshold if _at_the_limit(box, detector, scale) else None
    return box[4] >= max(detector.threshold, limit or 0.0)


def encode_boxes(image: np.ndarray, boxes: list, models: FaceModels, num_jitters: int = 1) -> list[DetectedFace]:
    """DetectedFaces of (l, t, r, b, score) pixel boxes on the RGB `image`: encoded on a copy at most
    ENCODE_MAX_SIDE long, boxes normalised (0-1) on `image`."""
    if not boxes:
        return []
    height, width = image.shape[:2]
    enc_image, enc_factor = _resize(image, ENCODE_MAX_SIDE)
    eh, ew = enc_image.shape[:2]
    s = 1.0 / enc_factor
    pixel_boxes = [(round(fl * s), round(ft * s), min(ew - 1, round(fr * s) - 1), min(eh - 1, round(fb * s) - 1))
                   for fl, ft, fr, fb, _ in boxes]
    encodings = models.encode(enc_image, pixel_boxes, num_jitters)
    return [
        DetectedFace(x=fl / width, y=ft / height, w=(fr - fl) / width, h=(fb - ft) / height,
                     encoding=enc, score=score)
        for (fl, ft, fr, fb, score), enc in zip(boxes, encodings, strict=True)
    ]


def _as_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError("image must be uint8")
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"image must be (H, W, 3) RGB, got shape {image.shape}")
    return np.ascontiguousarray(image[:, :, :3])


def face_distances(known: np.ndarray, encoding: np.ndarray) -> np.ndarray:
    """Euclidean distances from one encoding to each row of `known` (face_recognition.face_distance)."""
    if len(known) == 0:
        return np.empty((0,), dtype=np.float32)
    return np.linalg.norm(np.asarray(known, dtype=np.float32) - np.asarray(encoding, dtype=np.float32), axis=1)


def validate_encoding(vector) -> np.ndarray:
    """A (128,) finite float vector as float32, or ValueError saying what is wrong with it."""
    arr = np.asarray(vector)
    if arr.dtype.kind != "f":
        raise ValueError(f"dtype {arr.dtype} is not a float type")
    if arr.shape != (ENCODING_SIZE,):
        raise ValueError(f"shape {arr.shape} is not ({ENCODING_SIZE},)")
    if not np.isfinite(arr).all():
        raise ValueError("contains NaN or infinite values")
    if not np.any(arr):
        raise ValueError("is all zeros")
    return arr.astype(np.float32)


class FaceMatcher:
    """All known encodings as one matrix + the person id of each row; immutable once built.

    A face gets the person of its nearest known encoding if that is within `tolerance`. When another
    person's nearest encoding is almost as close (within `tie_margin`), the k nearest encodings vote
    and the mean distance of each person's votes breaks the remaining tie.
    """

    def __init__(self, encodings, person_ids, k: int = 5, tie_margin: float = 0.03) -> None:
        self.encodings = np.ascontiguousarray(np.asarray(encodings, dtype=np.float32).reshape(-1, ENCODING_SIZE))
        self.person_ids = np.asarray(person_ids, dtype=np.int64).reshape(-1)
        if len(self.encodings) != len(self.person_ids):
            raise ValueError("one person id per encoding")
        self._sq_norms = np.einsum("ij,ij->i", self.encodings, self.encodings)
        self.k = k
        self.tie_margin = tie_margin

    def __len__(self) -> int:
        return len(self.person_ids)

    def _squared(self, encodings) -> np.ndarray:
        q = np.asarray(encodings, dtype=np.float32).reshape(-1, ENCODING_SIZE)
        # |a-b|² = |a|² + |b|² - 2a·b: one product instead of an (m, n, 128) difference tensor. A few
        # queries go through einsum's single-threaded loop: OpenBLAS's thread pool costs 5-20 ms a call
        # on a busy CPU (measured in bench/faces.py), 50x the product itself; batches amortise it.
        if len(q) <= SMALL_BATCH:
            sq = np.einsum("kj,ij->ki", q, self.encodings)
        else:
            sq = q @ self.encodings.T
        sq *= -2.0
        sq += self._sq_norms[None, :]
        sq += np.einsum("ij,ij->i", q, q)[:, None]
        return sq

    def distances(self, encodings) -> np.ndarray:
        """(m, n) euclidean distances from each of `encodings` (m, 128) to every known encoding."""
        sq = self._squared(encodings)
        return np.sqrt(np.maximum(sq, 0.0, out=sq), out=sq)

    def match(self, encoding, tolerance: float = DEFAULT_TOLERANCE, exclude=()) -> Match | None:
        """The best person for one encoding, or None; persons in `exclude` are never suggested."""
        return self.match_many(np.asarray(encoding).reshape(1, -1), tolerance, [exclude])[0]

    def match_many(self, encodings, tolerance: float = DEFAULT_TOLERANCE, excludes=None,
                   chunk: int = 256) -> list[Match | None]:
        """`match` for each row of `encodings`; excludes[i] is the set of person ids row i must not get."""
        encodings = np.asarray(encodings, dtype=np.float32).reshape(-1, ENCODING_SIZE)
        if not len(self):
            return [None] * len(encodings)
        out: list[Match | None] = []
        for start in range(0, len(encodings), chunk):
            sq = self._squared(encodings[start:start + chunk])
            for j in range(len(sq)):
                exclude = excludes[start + j] if excludes else None
                if exclude:
                    sq[j, np.isin(self.person_ids, list(exclude))] = np.inf
            k = min(self.k, sq.shape[1])
            # the k nearest of every row at once; square roots only for those
            nearest = np.argpartition(sq, k - 1, axis=1)[:, :k] if k < sq.shape[1] else \
                np.broadcast_to(np.arange(k), sq.shape)
            dist = np.sqrt(np.maximum(np.take_along_axis(sq, nearest, axis=1), 0.0))
            order = np.argsort(dist, axis=1)
            nearest = np.take_along_axis(nearest, order, axis=1)
            dist = np.take_along_axis(dist, order, axis=1)
            out.extend(self._decide(n, d, tolerance) for n, d in zip(nearest, dist, strict=True))
        return out

    def _decide(self, nearest: np.ndarray, dist: np.ndarray, tolerance: float) -> Match | None:
        """The person among one face's k nearest encodings (sorted by distance), or None."""
        keep = dist <= tolerance
        if not keep[0]:
            return None
        stats: dict[int, list[float]] = {}
        for i, d in zip(nearest[keep], dist[keep], strict=True):
            stats.setdefault(int(self.person_ids[i]), []).append(float(d))
        contenders = [p for p, ds in stats.items() if ds[0] <= float(dist[0]) + self.tie_margin]
        # nearest distance first; among near-ties more votes, then the lower mean distance
        person = min(contenders, key=lambda p: (-len(stats[p]), float(np.mean(stats[p])))) \
            if len(contenders) > 1 else contenders[0]
        return Match(person_id=person, distance=stats[person][0], votes=len(stats[person]))


def cluster_encodings(encodings, threshold: float = CLUSTER_THRESHOLD) -> list[int]:
    """Chinese-whispers cluster labels (0..c-1) for the rows of `encodings` (dlib's graph clustering)."""
    import dlib

    encodings = np.asarray(encodings, dtype=np.float64).reshape(-1, ENCODING_SIZE)
    if len(encodings) == 0:
        return []
    if len(encodings) == 1:
        return [0]
    labels = dlib.chinese_whispers_clustering([dlib.vector(e.tolist()) for e in encodings], threshold)
    return [int(label) for label in labels]
