"""The two face passes: a fast one inside the analysis pipeline, a thorough one in the background.

- Fast pass (persons.detect_photo_faces + record_faces, in pipeline/analysis for every photo): dlib
  HOG on the decoded copy (long side `face_max_side`), so the swipe never waits; finds faces from
  ~80/1024 of the long side.
- Thorough pass (`thorough_pass`): the chosen detector (`choose_backend`) on the full-resolution photo,
  scaled so a `face_min_px` face reaches its window and tiled (people/detect). It keeps every face
  the fast pass found, adds what it finds beyond them, matches them, and the suggester runs again.
  On a GPU (onnxruntime or dlib with CUDA) it keeps up with the pipeline, woken after each batch.
- `FacePass` is the background thread of the thorough pass, at idle CPU priority; `run_thorough`
  does the same work synchronously (`jaicat analyse`, tests).

Photo.faces_pass records what a photo has had (0, FAST, THOROUGH): the queue lives in the catalogue,
so a restart resumes where it stopped, and a photo is never half-recorded (record_faces is atomic).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable

import numpy as np

from .. import events
from ..db import Photo
from ..errors import JaicatError, ModelUnavailable
from ..pipeline.background import PhotoLoop
from . import detect, faces as faces_ml

log = logging.getLogger(__name__)

FAST, THOROUGH = 1, 2
# The thorough pass decodes at most this long a side (a 200 MP photo stays ~150 MB as an array).
THOROUGH_DECODE_SIDE = 8000
# A backend whose thorough pass of a 12 MP photo is estimated slower than this is not chosen by auto.
AUTO_BUDGET_S = 30.0
REFERENCE_SHAPE = (3000, 4000)  # a 12 MP phone photo


def pending_thorough():
    """Photos analysed (fast pass done) but not yet through the thorough pass, oldest first; videos
    have no frame to search here (a Live Photo's still is a photo of its own)."""
    return (Photo.select().where(Photo.analysed_at.is_null(False), Photo.faces_pass < THOROUGH,
                                 Photo.media != "video")
            .order_by(Photo.id))


def measure_backends(settings, models: faces_ml.FaceModels) -> dict[str, dict]:
    """Each backend's estimated seconds for the thorough pass of a 12 MP photo on this machine.

    Times one tile of noise per backend (after a warm-up) and multiplies by the tiles its thorough pass
    runs; {"hog": {"available": True, "seconds": 9.1, "device": "cpu"}, "onnx": {"available": False,
    "error": "..."}}. Cached on `models` (measured once per process).
    """
    if models.measured is not None:
        return models.measured
    out = {}
    rng = np.random.default_rng(0)
    for backend in ("onnx", "cnn", "hog"):
        try:
            det = models.detector(backend, settings.face_onnx_model)
        except (ModelUnavailable, ImportError, ValueError, RuntimeError) as e:
            out[backend] = {"available": False, "error": getattr(e, "message", None) or str(e)}
            continue
        # dlib's cost is per pixel: time a small patch (dlib's CNN takes seconds a tile on a CPU);
        # the onnx detector always runs its fixed input.
        side = det.tile if backend == "onnx" else min(det.tile, 320)
        patch = rng.integers(0, 255, (side, side, 3), dtype=np.uint8)
        det.predict([patch])
        t0 = time.perf_counter()
        det.predict([patch])
        per_tile = (time.perf_counter() - t0) * (det.tile / side) ** 2
        scale = detect.scale_for(det, REFERENCE_SHAPE, settings.face_min_px, settings.face_thorough_mpx * 1e6)
        tiles = sum(len(detect._tiles(REFERENCE_SHAPE[0] * s, det.tile, round(det.window * detect.OVERLAP)))
                    * len(detect._tiles(REFERENCE_SHAPE[1] * s, det.tile, round(det.window * detect.OVERLAP)))
                    for s in detect._levels(scale, max(REFERENCE_SHAPE), det.tile))
        out[backend] = {"available": True, "device": det.device, "seconds": round(per_tile * tiles, 2),
                        "min_face_px": round(det.window / scale, 1)}
    models.measured = out
    return out


def choose_backend(settings, models: faces_ml.FaceModels) -> str:
    """The thorough pass's detector: `face_model` when set, else the best one this machine runs in budget.

    Best = the onnx SCRFD, then dlib's CNN, then HOG (quality order); HOG is always there.
    """
    if settings.face_model != "auto":
        return faces_ml.resolve_model(settings.face_model)
    measured = measure_backends(settings, models)
    for backend in ("onnx", "cnn"):
        m = measured.get(backend, {})
        if m.get("available") and m["seconds"] <= AUTO_BUDGET_S:
            return backend
    return "hog"


def thorough_pass(photo: Photo, settings, models: faces_ml.FaceModels | None = None) -> list:
    """Run the thorough detector on the full-resolution photo and add the faces it finds beyond the
    ones already recorded; returns the photo's faces. Raises JaicatError when the file cannot be read."""
    from ..photos.imaging import open_upright
    from ..photos.library import photo_file
    from .persons import record_faces

    models = models or faces_ml._models
    image = open_upright(photo_file(photo, settings), max_side=THOROUGH_DECODE_SIDE)
    arr = np.asarray(image.convert("RGB"))
    detected = faces_ml.detect_faces(arr, model=choose_backend(settings, models), models=models,
                                     min_face=settings.face_min_px * arr.shape[1] / max(photo.width, 1),
                                     max_pixels=settings.face_thorough_mpx * 1e6,
                                     onnx_model=settings.face_onnx_model)
    return record_faces(photo, detected, tolerance=settings.face_tolerance, keep_unmatched=True,
                        faces_pass=THOROUGH)


def _thorough_one(photo: Photo, settings, models, suggester) -> int:
    """One photo through the thorough pass; returns how many faces it added (0 on an unreadable file)."""
    before = photo.faces.count()
    try:
        faces = thorough_pass(photo, settings, models)
    except JaicatError as e:  # the file went missing or broke since analysis: nothing more to find
        log.warning("thorough face pass skipped photo %s: %s", photo.id, e.message)
        Photo.update(faces_pass=THOROUGH).where(Photo.id == photo.id).execute()
        return 0
    except Exception:  # noqa: BLE001 - one photo must not stall the queue; its fast-pass faces stay
        log.exception("thorough face pass failed on photo %s; keeping its fast-pass faces", photo.id)
        Photo.update(faces_pass=THOROUGH).where(Photo.id == photo.id).execute()
        return 0
    added = len(faces) - before
    if added > 0:
        events.publish(events.PEOPLE_CHANGED, action="faces_found", faces=added, photo_ids=[photo.id])
        if suggester is not None:
            try:
                suggester.suggest_after_analysis(Photo.get_by_id(photo.id))
            except Exception:  # noqa: BLE001 - suggestions must not stop the pass
                log.exception("folder suggestion for photo %s failed", photo.id)
    return added


def run_thorough(settings, models: faces_ml.FaceModels | None = None, suggester=None,
                 progress: Callable[[int, int], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> dict:
    """Put every pending photo through the thorough pass now; {"photos", "faces_added"}."""
    models = models or faces_ml._models
    total = pending_thorough().count()
    done = added = 0
    while not (should_stop and should_stop()):
        photo = pending_thorough().first()
        if photo is None:
            break
        added += _thorough_one(photo, settings, models, suggester)
        done += 1
        if progress:
            progress(done, max(total, done))
    return {"photos": done, "faces_added": added}


class FacePass(PhotoLoop):
    """The background thread of the thorough pass, at idle CPU priority. Held by the Runtime; each
    photo ingested wakes it (it waits for the fast pass)."""

    thread_name = "jaicat-faces"
    retry_seconds = 30.0

    def __init__(self, settings, models: faces_ml.FaceModels | None = None, suggester=None,
                 idle_wait: float = 20.0):
        self.settings = settings
        self.models = models or faces_ml._models
        self.suggester = suggester
        super().__init__(idle_wait)
        self.niceness: int | None = None  # the thread's nice value once running (19: idle), where the OS has one

    def _begin(self) -> None:
        try:
            # Linux gives each thread its own nice value: the pass yields the CPU to uploads and the pipeline.
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
            self.niceness = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        except (AttributeError, OSError):
            pass

    def _step(self) -> None:
        run_thorough(self.settings, self.models, self.suggester, should_stop=self._stop.is_set)

    def _step_failed(self, error: Exception) -> None:
        log.exception("thorough face pass error; retrying shortly")
