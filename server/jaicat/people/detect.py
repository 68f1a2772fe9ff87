"""Face detectors: one InferenceModel per backend, and the tiling that lets each find small faces.

Backends (all return boxes (left, top, right, bottom, score) in the pixels of the array they get):
- `hog`: dlib's frontal HOG detector (face_recognition_models' dlib, no download). Fast on a CPU;
  frontal faces from its 80 px window up.
- `cnn`: dlib's MMOD CNN (face_recognition_models). Finds profiles and harder faces, also from 80 px;
  fast only where dlib was built with CUDA.
- `onnx`: an SCRFD detector (InsightFace; Immich's `buffalo_*` packs) run with onnxruntime, CUDA
  when present. Faces from ~16 px on its 640 px input. Weights come from `jaicat models pull NAME`.
- `yunet`: libfacedetection's YuNet (the `yuface` wheel, BSD, its weights inside the wheel: offline).
  Faces from ~20 px, ~60 ms a 1000 px photo on one CPU core; its boxes are mapped to dlib's framing
  (`to_dlib_box`) so dlib's 5-point alignment, and so the household's encodings, stay as they were.
  The wheel exists for CPython 3.11 on x86-64 only: without it `yuface` is None and HOG stands in.

A detector sees faces of `window` pixels and up at the scale it runs. `find_boxes` runs it at the
scale that brings the smallest wanted face to that window, on overlapping tiles of `tile` pixels
(so a 12 MP photo never becomes one giant array), and on coarser levels for the larger faces a tile
would cut; overlapping boxes are merged.
"""

from __future__ import annotations

import ctypes
import math
import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import ModelUnavailable
from ..models.base import InferenceModel, local_dir_name

try:  # an optional platform wheel (CPython 3.11, x86-64 Linux and Windows): HOG stands in without it
    import yuface
except ImportError:
    yuface = None

# yuface warns above 960 px that it gets slower (it is per pixel); find_boxes sizes the tiles itself.
warnings.filterwarnings("ignore", message="Image size .* is too large", module="yuface")

Box = tuple[float, float, float, float, float]  # left, top, right, bottom, score (pixels)

# A level runs at 1/LEVEL_RATIO the scale of the previous one; tiles overlap by OVERLAP windows, so
# every face from 1 to LEVEL_RATIO windows wide lies whole inside one tile of its level.
LEVEL_RATIO = 2.0
OVERLAP = 2.5


def dlib_models_dir() -> Path:
    with warnings.catch_warnings():  # face_recognition_models imports the deprecated pkg_resources
        warnings.simplefilter("ignore")
        import face_recognition_models as frm
    return Path(frm.cnn_face_detector_model_location()).parent


class FaceDetector(InferenceModel):
    """One detection backend; `predict([array, ...])` gives each array's boxes at its own scale."""

    family = "face detector"
    backend = ""
    window = 80  # smallest face (px) found at the scale it runs
    tile = 1600  # longest input side it runs on at once
    quality = 0  # higher finds more of the faces a household photographs (ranks the backends)
    grey = False  # it looks at luminance only: find_boxes hands it one channel (a third of the pixels to move)
    enlarge_small = True  # the one pass doubles a small photo (a window of 80 px misses its small faces)

    def __init__(self, name: str, models_dir, device: str = "auto", batch_size: int = 16,
                 threshold: float | None = None, **kw):
        super().__init__(name, models_dir, device=device, batch_size=batch_size, **kw)
        self.threshold = self.default_threshold if threshold is None else threshold
        self.runtime = {"onnx": "onnxruntime", "yunet": "yuface"}.get(self.backend, "dlib")

    default_threshold = 0.0
    # A detector may also return boxes scored from `floor` up to `threshold`: too doubtful to be faces,
    # they tell the one pass that a closer look may find more (faces.doubt). None: nothing below threshold.
    floor: float | None = None
    limit_threshold: float | None = None  # the one pass's threshold for a box at the limit of the window

    def _predict(self, batch: list[np.ndarray]) -> list[list[Box]]:
        return [self.detect(np.ascontiguousarray(im)) for im in batch]

    def detect(self, image: np.ndarray) -> list[Box]:
        raise NotImplementedError


class HogDetector(FaceDetector):
    backend = "hog"
    window = 80
    tile = 1600
    quality = 1
    # dlib's fHOG on RGB takes each pixel's strongest channel gradient; on luminance it finds the same
    # faces of the labelled set (bench/faces.py) in ~2/3 of the time.
    grey = True

    def resolve(self) -> Path:
        return dlib_models_dir()

    def choose_device(self) -> str:
        return "cpu"

    def _load(self, path: Path) -> None:
        import dlib

        self._hog = dlib.get_frontal_face_detector()

    def detect(self, image: np.ndarray) -> list[Box]:
        with self._lock:  # dlib's detectors are not thread-safe
            rects, scores, _ = self._hog.run(image, 0, self.threshold)
        return [(r.left(), r.top(), r.right() + 1, r.bottom() + 1, float(s))
                for r, s in zip(rects, scores, strict=True)]


class DlibCnnDetector(FaceDetector):
    backend = "cnn"
    window = 80
    tile = 1024  # its activations take ~1 GB at 1024 px
    quality = 2

    def resolve(self) -> Path:
        return dlib_models_dir()

    def choose_device(self) -> str:
        import dlib

        return "cuda" if getattr(dlib, "DLIB_USE_CUDA", False) and self.device_preference != "cpu" else "cpu"

    def _load(self, path: Path) -> None:
        import dlib

        self._cnn = dlib.cnn_face_detection_model_v1(str(path / "mmod_human_face_detector.dat"))

    def detect(self, image: np.ndarray) -> list[Box]:
        with self._lock:
            found = self._cnn(image, 0)
        return [(d.rect.left(), d.rect.top(), d.rect.right() + 1, d.rect.bottom() + 1, float(d.confidence))
                for d in found if d.confidence >= self.threshold]


# --- SCRFD through onnxruntime ----------------------------------------------------------------------
ONNX_FILES = ("detection/model.onnx", "det_10g.onnx", "det_2.5g.onnx", "det_500m.onnx", "model.onnx")
SCRFD_STRIDES = (8, 16, 32)
SCRFD_ANCHORS = 2


def find_onnx_detector(name: str, models_dir) -> Path:
    """The .onnx file of detector `name`: a file, a folder holding one, or what `models pull` wrote."""
    direct = Path(name).expanduser()
    if direct.is_file() and direct.suffix in (".onnx", ".partial"):
        return direct
    for folder in (direct, Path(models_dir) / local_dir_name(name)):
        for rel in ONNX_FILES:
            if (folder / rel).is_file():
                return folder / rel
    raise ModelUnavailable(
        f"face detector {name!r} is not on this machine (looked in {Path(models_dir) / local_dir_name(name)}); "
        f"run `jaicat models pull {name}`, or `jaicat models pull --from DIR {name}` offline",
        model=name,
    )


def pull_onnx_detector(name: str, models_dir, from_dir=None) -> Path:
    """Put SCRFD detector `name` into `models_dir` (as `<org--name>/detection/model.onnx`) and return
    that file: copied from a local file or folder (`from_dir`), else downloaded from the Hugging Face
    hub repository `name` (Immich's packs hold it at detection/model.onnx). It is loaded once before
    it replaces anything, so a broken download never becomes the detector."""
    import shutil

    dest = Path(models_dir) / local_dir_name(name) / "detection" / "model.onnx"
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name("model.onnx.partial")
    if from_dir is not None:
        src = Path(from_dir).expanduser()
        for folder in ((src / local_dir_name(name), src / name, src) if src.is_dir() else ()):
            if folder.is_dir() and any((folder / rel).is_file() for rel in ONNX_FILES):
                src = find_onnx_detector(str(folder), models_dir)
                break
        if not src.is_file():
            raise ModelUnavailable(f"no face detector (.onnx) at {from_dir}", model=name)
        shutil.copyfile(src, tmp)
    else:
        try:
            from huggingface_hub import hf_hub_download

            got = hf_hub_download(name, "detection/model.onnx", local_dir=str(tmp.parent / ".download"))
        except Exception as e:  # network down, unknown repo: not pulled
            raise ModelUnavailable(
                f"cannot download face detector {name!r} ({type(e).__name__}: {e}); on a machine without "
                f"internet copy its detection/model.onnx over and run `jaicat models pull --from DIR {name}`",
                model=name) from e
        shutil.move(got, tmp)
        shutil.rmtree(tmp.parent / ".download", ignore_errors=True)
    try:
        OnnxDetector(str(tmp), models_dir, device="cpu").load()
    except ModelUnavailable:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(dest)
    return dest


class OnnxDetector(FaceDetector):
    """SCRFD (the InsightFace detector Immich uses): 3 strides x 2 anchors, scores + distances (+ 5 points).

    Input: RGB, (x - 127.5) / 128, NCHW, letterboxed into `input_side` (top-left, zero padding).
    """

    backend = "onnx"
    window = 16
    tile = 640
    quality = 4
    default_threshold = 0.5
    input_side = 640

    def resolve(self) -> Path:
        return find_onnx_detector(self.name, self.models_dir)

    def choose_device(self) -> str:
        import onnxruntime as ort

        cuda = "CUDAExecutionProvider" in ort.get_available_providers()
        return "cuda" if cuda and self.device_preference != "cpu" else "cpu"

    def _load(self, path: Path) -> None:
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise ModelUnavailable("the onnx face detector needs onnxruntime (pip install onnxruntime)") from e
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if self.device == "cuda" \
            else ["CPUExecutionProvider"]
        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own types for a bad file
            raise ValueError(f"not a usable ONNX model: {e}") from e
        outputs = self._session.get_outputs()
        if len(outputs) not in (6, 9):
            raise ValueError(f"expected SCRFD's 6 or 9 outputs, found {len(outputs)}")
        self._input = self._session.get_inputs()[0].name
        shape = self._session.get_inputs()[0].shape
        if isinstance(shape[2], int) and isinstance(shape[3], int):
            self.input_side = self.tile = int(shape[2])

    def detect(self, image: np.ndarray) -> list[Box]:
        side = self.input_side
        h, w = image.shape[:2]
        scale = min(1.0, side / max(h, w))
        if scale < 1.0:
            from PIL import Image

            image = np.asarray(Image.fromarray(image).resize((max(1, round(w * scale)), max(1, round(h * scale))),
                                                             Image.Resampling.BILINEAR))
        canvas = np.zeros((side, side, 3), np.float32)
        canvas[:image.shape[0], :image.shape[1]] = image
        blob = ((canvas - 127.5) / 128.0).transpose(2, 0, 1)[None]
        outs = self._session.run(None, {self._input: np.ascontiguousarray(blob, dtype=np.float32)})
        boxes = []
        for i, stride in enumerate(SCRFD_STRIDES):
            scores = np.asarray(outs[i]).reshape(-1)
            dist = np.asarray(outs[i + 3]).reshape(-1, 4) * stride
            n = side // stride
            centres = np.stack(np.mgrid[:n, :n][::-1], axis=-1).reshape(-1, 2) * stride
            centres = np.repeat(centres, SCRFD_ANCHORS, axis=0).astype(np.float32)
            keep = np.flatnonzero(scores >= self.threshold)
            for k in keep:
                cx, cy = centres[k]
                d = dist[k]
                boxes.append((float(cx - d[0]) / scale, float(cy - d[1]) / scale, float(cx + d[2]) / scale,
                              float(cy + d[3]) / scale, float(scores[k])))
        return merge_boxes(boxes, iou_limit=0.4)


# --- YuNet (libfacedetection) through the yuface wheel ---------------------------------------------
# YuNet frames a face from the brow to below the chin, taller than wide; dlib's detectors, whose boxes
# dlib's 5-point shape predictor was trained on, frame it square and higher. Mapped with these (median
# ratios of 141 YuNet/HOG box pairs of the media faces), 128-d encodings from the mapped boxes lie
# 0.058 mean, 0.43 max from those of dlib's own boxes (0.6 is a match): tests/people/test_yunet.py.
DLIB_SCALE_X = 1.135  # dlib's width / YuNet's width
DLIB_SCALE_Y = 0.87  # dlib's height / YuNet's height
DLIB_SHIFT_Y = 0.048  # dlib's centre lies this many YuNet heights lower


def to_dlib_box(left: float, top: float, right: float, bottom: float) -> tuple[float, float, float, float]:
    """A YuNet box (l, t, r, b) as dlib's HOG would frame the same face: same centre x, centre moved down
    DLIB_SHIFT_Y of the height, width x DLIB_SCALE_X, height x DLIB_SCALE_Y (about square)."""
    w, h = right - left, bottom - top
    cx, cy = (left + right) / 2, (top + bottom) / 2 + DLIB_SHIFT_Y * h
    half_w, half_h = w * DLIB_SCALE_X / 2, h * DLIB_SCALE_Y / 2
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h


class YuNetDetector(FaceDetector):
    """YuNet on the CPU (the wheel's own C++ with OpenMP). Scores 0-1; 0.7 keeps recall and precision
    at 0.98 on the labelled set, boxes from 0.5 are `floor` doubts.

    The wheel's Python function keeps the GIL for its whole call (~90 ms a 12 MP photo's copy), which
    stopped every other thread of the server: CLIP beside it took 104 ms a photo instead of 49, uploads
    157 ms instead of 95. So the library's own C entry is called through ctypes, which lets the GIL
    go, on at most half the cores (the other half run CLIP beside it); the wheel's function stays as
    the fallback where that entry cannot be found."""

    backend = "yunet"
    window = 20
    tile = 1024
    quality = 3
    enlarge_small = False  # at 2x its false hits triple on the labelled set (bench/faces.py)
    default_threshold = 0.7
    floor = 0.5
    limit_threshold = 0.85  # its false hits on the labelled photos enlarged to 12 MP: 12-28 px, 0.70-0.81

    def resolve(self) -> Path:
        if yuface is None:
            raise ModelUnavailable("the yunet face detector needs the yuface wheel (CPython 3.11 on x86-64: "
                                   "pip install yuface)", model=self.name)
        return Path(yuface.__file__).parent

    def choose_device(self) -> str:
        return "cpu"

    def _load(self, path: Path) -> None:
        self._c = _yunet_entry(path)
        self._threads = max(1, (os.cpu_count() or 2) // 2)

    def detect(self, image: np.ndarray) -> list[Box]:
        bgr = np.ascontiguousarray(image[:, :, 2::-1] if image.ndim == 3 else np.stack([image] * 3, axis=-1))
        least = min(self.threshold, self.floor) * 100
        with self._lock:
            rows = self._c(bgr, self._threads) if self._c is not None else _yuface_rows(bgr)
        return [(*to_dlib_box(float(x), float(y), float(x + w), float(y + h)), float(c) / 100.0)
                for c, x, y, w, h in rows[:, :5].astype(np.float64) if c > least]


def _yuface_rows(bgr: np.ndarray) -> np.ndarray:
    """(confidence 0-100, x, y, w, h, ...) rows from the wheel's own Python function (keeps the GIL)."""
    confs, boxes, _ = yuface.detect(bgr, conf=0.0)
    return np.column_stack([confs, boxes]) if len(confs) else np.zeros((0, 5))


# libfacedetection's `int *facedetect_cnn(unsigned char *result_buffer, unsigned char *bgr, int width,
# int height, int step)`: the buffer's first int counts the faces, then 16 shorts a face (confidence
# 0-100, x, y, w, h, 5 landmarks). The wheel bundles the library and its own OpenMP runtime.
_YUNET_SYMBOL = "_Z14facedetect_cnnPhS_iii"
_YUNET_BUFFER = 0x9000
_YUNET_MAX_FACES = (_YUNET_BUFFER - 4) // 32


def _yunet_entry(package: Path):
    """`detect(bgr, threads) -> rows` through libfacedetection's C entry (ctypes lets go of the GIL),
    or None where the library or its symbol is not there."""
    try:
        lib = ctypes.CDLL(str(package / "libfacedetection.so"))
        entry = lib[_YUNET_SYMBOL]
    except (OSError, AttributeError):
        return None
    entry.restype = ctypes.POINTER(ctypes.c_int)
    entry.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    set_threads = _omp_set_num_threads(package.parent / "yuface.libs")

    def detect(bgr: np.ndarray, threads: int) -> np.ndarray:
        buf = np.zeros(_YUNET_BUFFER, dtype=np.uint8)
        h, w, _ = bgr.shape
        if set_threads is not None:
            set_threads(threads)  # this thread's next OpenMP regions
        n = min(entry(buf.ctypes.data, bgr.ctypes.data, w, h, w * 3)[0], _YUNET_MAX_FACES)
        return np.frombuffer(buf, dtype=np.int16, count=16 * n, offset=4).reshape(n, 16)

    return detect


def _omp_set_num_threads(libs: Path):
    """`omp_set_num_threads` of the OpenMP runtime the wheel bundles, or None."""
    for lib in sorted(libs.glob("libgomp*.so*")):
        try:
            return ctypes.CDLL(str(lib)).omp_set_num_threads
        except (OSError, AttributeError):
            continue
    return None


BACKENDS: dict[str, type[FaceDetector]] = {"hog": HogDetector, "cnn": DlibCnnDetector, "onnx": OnnxDetector,
                                           "yunet": YuNetDetector}


# --- scales, tiles, merging -------------------------------------------------------------------------
def _iou(a, b) -> tuple[float, float]:
    """(intersection over union, intersection over the smaller box) of two (l, t, r, b) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area_a, area_b = (a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])
    union = area_a + area_b - inter
    return (inter / union if union > 0 else 0.0), (inter / min(area_a, area_b) if min(area_a, area_b) > 0 else 0.0)


def merge_boxes(boxes: list[Box], iou_limit: float = 0.3, inside_limit: float = 0.7) -> list[Box]:
    """Non-maximum suppression: the best-scored of boxes that overlap (IoU) or nest (one mostly inside)."""
    kept: list[Box] = []
    for b in sorted(boxes, key=lambda b: -b[4]):
        if all(iou < iou_limit and inside < inside_limit for iou, inside in (_iou(b, k) for k in kept)):
            kept.append(b)
    return kept


def _levels(scale: float, long_side: int, tile: int) -> list[float]:
    """Scales to run at: `scale`, then LEVEL_RATIO times smaller until the whole image fits one tile."""
    levels = [scale]
    while long_side * levels[-1] > tile:
        levels.append(levels[-1] / LEVEL_RATIO)
    return levels


def _tiles(length: float, tile: int, overlap: int) -> list[int]:
    """Start offsets (scaled pixels) of tiles of `tile` covering `length` with at least `overlap`."""
    if length <= tile:
        return [0]
    step = tile - overlap
    count = math.ceil((length - tile) / step) + 1
    step = (length - tile) / (count - 1)
    return [round(i * step) for i in range(count)]


def _resized(image: np.ndarray, box: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    left, top, right, bottom = box
    crop = image[top:bottom, left:right]
    if crop.shape[1] == size[0] and crop.shape[0] == size[1]:
        return crop
    return np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0))


def luminance(image: np.ndarray) -> np.ndarray:
    """The (H, W) uint8 luminance (ITU-R 601, as Pillow's "L") of an RGB uint8 array."""
    from PIL import Image

    return np.asarray(Image.fromarray(np.ascontiguousarray(image[:, :, :3])).convert("L"))


def scale_for(detector: FaceDetector, shape, min_face: float, max_pixels: float) -> float:
    """The scale that brings a `min_face` px face to the detector's window, within `max_pixels` of work."""
    h, w = shape[:2]
    scale = detector.window / max(float(min_face), 1.0)
    return min(scale, math.sqrt(max_pixels / max(h * w, 1)))


def find_boxes(detector: FaceDetector, image: np.ndarray, scale: float) -> list[Box]:
    """Every face box of `image` (pixels of `image`), running `detector` at `scale` and coarser levels.

    At each level the scaled image is cut into tiles of `detector.tile` px overlapping by OVERLAP windows;
    each tile is cropped from `image` and resized on its own, so memory stays at one tile.
    """
    h, w = image.shape[:2]
    tile, overlap = detector.tile, round(detector.window * OVERLAP)
    if detector.grey and image.ndim == 3:
        image = luminance(image)
    found: list[Box] = []
    for level in _levels(scale, max(h, w), tile):
        sw, sh = w * level, h * level
        crops, frames = [], []
        for ty in _tiles(sh, tile, overlap):
            for tx in _tiles(sw, tile, overlap):
                # the tile in source pixels, then the exact size it is resized to
                left, top = int(tx / level), int(ty / level)
                right, bottom = min(w, math.ceil((tx + tile) / level)), min(h, math.ceil((ty + tile) / level))
                size = (max(1, round((right - left) * level)), max(1, round((bottom - top) * level)))
                crops.append(_resized(image, (left, top, right, bottom), size))
                frames.append((left, top, (right - left) / size[0], (bottom - top) / size[1]))
        for boxes, (left, top, fx, fy) in zip(detector.predict(crops), frames, strict=True):
            found += [(left + b[0] * fx, top + b[1] * fy, left + b[2] * fx, top + b[3] * fy, b[4]) for b in boxes]
    clipped = [(max(0.0, b[0]), max(0.0, b[1]), min(float(w), b[2]), min(float(h), b[3]), b[4]) for b in found]
    return merge_boxes([b for b in clipped if b[2] - b[0] >= 2 and b[3] - b[1] >= 2])


def match_boxes(truth: list, found: list, min_iou: float = 0.3) -> tuple[int, int, int]:
    """(true positives, false positives, missed) of `found` against `truth`, both (l, t, r, b) boxes.

    Greedy one-to-one by IoU. 0.3 rather than 0.5 because detectors frame a face differently (HOG: eyes
    to chin; SCRFD: hairline to chin) and a hand-drawn box sits between them.
    """
    pairs = sorted(((_iou(t, f)[0], i, j) for i, t in enumerate(truth) for j, f in enumerate(found)), reverse=True)
    used_t, used_f = set(), set()
    for iou, i, j in pairs:
        if iou < min_iou:
            break
        if i not in used_t and j not in used_f:
            used_t.add(i)
            used_f.add(j)
    return len(used_t), len(found) - len(used_f), len(truth) - len(used_t)
