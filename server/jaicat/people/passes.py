"""The face passes: one pass inside the analysis pipeline, and a thorough look for the photos it doubts.

- One pass (persons.detect_photo_faces + record_faces, in pipeline/analysis for every photo): the
  `face_model` detector (auto: YuNet, else dlib's HOG) on the decoded copy (long side
  `face_max_side`), so the swipe never waits. It also says whether it is sure of the photo
  (faces.doubt: several doubtful boxes, a crowd, faces at its window); persons.pass_after records a
  sure photo as done (THOROUGH), and one it doubts as FAST when a closer look can see smaller faces.
  dlib's detectors give no doubt scores: with them every photo gets the closer look, as before.
- Thorough pass (`thorough_pass`), for the photos left at FAST: the chosen detector (`choose_backend`)
  on the full-resolution photo, scaled so a `face_min_px` face reaches its window and tiled
  (people/detect). It keeps every face the one pass found, adds what it finds beyond them, matches
  them, and the suggester runs again.
- `FacePass` is the background thread of the thorough pass, at idle CPU priority; `run_thorough`
  does the same work synchronously (`jaicat analyse`, tests).

Photo.faces_pass records what a photo has had (0 none, FAST: the one pass and a closer look to come,
THOROUGH: done): the queue lives in the catalogue, so a restart resumes where it stopped, and a photo
is never half-recorded (record_faces is atomic).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from typing import Callable

import numpy as np

from .. import events
from ..db import Photo
from ..errors import JaicatError, ModelUnavailable
from ..loops import PhotoLoop
from . import detect, faces as faces_ml
from ..photos.imaging import open_upright
from ..photos.library import photo_file
from .persons import record_faces
from ..models.base import pick_device

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
    for backend in ("onnx", "yunet", "cnn", "hog"):
        try:
            det = models.detector(backend, settings.face_onnx_model)
        except (ModelUnavailable, ImportError, ValueError, RuntimeError) as e:
            out[backend] = {"available": False, "error": getattr(e, "message", None) or str(e)}
            continue
        # dlib's cost is per pixel: time a small patch (dlib's CNN takes seconds a tile on a CPU); the
        # onnx detector always runs its fixed input, and YuNet's call costs more than its pixels on a small one.
        side = det.tile if backend in ("onnx", "yunet") else min(det.tile, 320)
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


def measure_one_pass(settings, models: faces_ml.FaceModels) -> dict:
    """The one pass's detector and its ms a photo on this machine: detection of a frame of noise the
    size of a 12 MP photo's decoded copy (long side face_max_side), timed after a warm-up;
    {"backend": "yunet", "device": "cpu", "side": 1000, "ms": 61.0} (encoding not included)."""
    backend = faces_ml.resolve_model(settings.face_model)
    detector = models.detector(backend, settings.face_onnx_model)
    side = settings.face_max_side or max(REFERENCE_SHAPE)
    frame = np.random.default_rng(0).integers(0, 255, (side * 3 // 4, side, 3), dtype=np.uint8)
    scale = faces_ml.fast_scale(frame.shape, settings.face_max_side, detector.enlarge_small)
    detect.find_boxes(detector, frame, scale)
    t0 = time.perf_counter()
    detect.find_boxes(detector, frame, scale)
    return {"backend": backend, "device": detector.device, "side": side,
            "ms": round(1000 * (time.perf_counter() - t0), 1)}


def choose_backend(settings, models: faces_ml.FaceModels) -> str:
    """The thorough pass's detector: `face_model` when set, else the best one this machine runs in budget.

    Best = the onnx SCRFD, then YuNet, then dlib's CNN, then HOG (quality order); HOG is always there.
    """
    if settings.face_model != "auto":
        return faces_ml.resolve_model(settings.face_model)
    measured = measure_backends(settings, models)
    for backend in ("onnx", "yunet", "cnn"):
        m = measured.get(backend, {})
        if m.get("available") and m["seconds"] <= AUTO_BUDGET_S:
            return backend
    return "hog"


def thorough_faces(path, width: int, settings, models: faces_ml.FaceModels) -> list:
    """The thorough detector's faces on the full-resolution photo file at `path` (its catalogue width
    `width`); touches no catalogue (the pass's own process runs it). Raises JaicatError when the file
    cannot be read."""

    image = open_upright(path, max_side=THOROUGH_DECODE_SIDE)
    arr = np.asarray(image.convert("RGB"))
    return faces_ml.detect_faces(arr, model=choose_backend(settings, models), models=models,
                                 min_face=settings.face_min_px * arr.shape[1] / max(width, 1),
                                 max_pixels=settings.face_thorough_mpx * 1e6,
                                 onnx_model=settings.face_onnx_model)


def thorough_pass(photo: Photo, settings, models: faces_ml.FaceModels | None = None,
                  compute: Callable | None = None) -> list:
    """Run the thorough detector on the full-resolution photo and add the faces it finds beyond the
    ones already recorded; returns the photo's faces. `compute`: where the detector runs (default here;
    `ThoroughWorker.faces` runs it in the pass's own process). Raises JaicatError when the file cannot
    be read."""

    compute = compute or functools.partial(thorough_faces, models=models)
    found = compute(photo_file(photo, settings), photo.width, settings)
    return record_faces(photo, found, tolerance=settings.face_tolerance, keep_unmatched=True,
                        faces_pass=THOROUGH)


class PassStopped(Exception):
    """The pass was stopped while its process worked on a photo (the photo stays queued)."""


class WorkerDied(Exception):
    """The pass's process ended while it worked on a photo (dlib crashed, or it ran out of memory)."""


def _idle_priority(pid: int = 0) -> tuple[int | None, str]:
    """Put process `pid` (0: this one) at idle CPU priority: the SCHED_IDLE class where Linux has it
    (it runs only on a core nothing else wants), and nice 19 everywhere. Returns (nice value, class)."""
    policy = "normal"
    try:
        os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
        policy = "idle"
    except (AttributeError, OSError):
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, pid, 19)
        return os.getpriority(os.PRIO_PROCESS, pid), policy
    except (AttributeError, OSError):
        return None, policy


def _die_with_parent() -> None:
    """Linux: the kernel ends this process when the server's dies (even by kill -9), mid-photo
    included. Where it does not (other systems, sandboxed kernels), a watch thread ends it within a
    second of the server's death once it holds the GIL (dlib's detector keeps it for one call), and
    otherwise it ends at its next photo, when its pipe is closed."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)  # orphaned: nothing of ours is worth finishing (the server stores what we find)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _worker_main(conn, models_dir: str, device: str) -> None:
    """The pass's process: answers (path, width, settings) with ("ok", faces), ("unreadable", why) or
    ("error", why), one photo at a time, until its pipe closes or it reads None."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle; it stops us
    _die_with_parent()
    niceness, policy = _idle_priority()
    models = faces_ml.FaceModels(models_dir=models_dir, device=device)
    conn.send(("ready", os.getpid(), niceness, policy))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        path, width, settings = msg
        try:
            conn.send(("ok", thorough_faces(path, width, settings, models)))
        except JaicatError as e:
            conn.send(("unreadable", e.message))
        except Exception as e:  # noqa: BLE001 - reported to the server, which logs it with the photo
            conn.send(("error", f"{type(e).__name__}: {e}"))


class ThoroughWorker:
    """The thorough pass's detector in a process of its own, at idle CPU priority.

    dlib's CNN detector keeps Python's GIL for its whole call (seconds on a CPU): in the server's
    process it would stall every other thread (uploads, HTTP answers, the pipeline) whatever its nice
    value. Its own process computes the faces (`thorough_faces`); the server's thread stores them. The
    process starts on first use and lives until `close`; one that dies on a photo is replaced for the
    next one, and `close` ends it at once even mid-photo (nothing it does is stored by it)."""

    START_TIMEOUT = 120.0  # seconds for a new process to import and load its models

    def __init__(self, models_dir, device: str = "auto", pause_when: Callable[[], bool] | None = None):
        """`pause_when()` true: the process is held (SIGSTOP) until it turns false (SIGCONT), mid-photo
        included, so more urgent work gets every core at once and nothing done is lost."""
        self.models_dir = str(models_dir)
        self.device = device
        self.pause_when = pause_when
        self.paused = False
        self.pid: int | None = None
        self.niceness: int | None = None
        self.policy: str | None = None
        self._proc = None
        self._conn = None
        self._closed = threading.Event()
        self._lock = threading.Lock()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def _start(self) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")  # never fork a threaded server
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker_main, args=(child, self.models_dir, self.device),
                           name="jaicat-faces-worker", daemon=True)
        proc.start()
        _idle_priority(proc.pid)  # at once: its start-up (imports, model loading) is idle work too
        child.close()
        self._proc, self._conn = proc, parent
        reply = self._answer(timeout=self.START_TIMEOUT)
        _, self.pid, self.niceness, self.policy = reply

    def _answer(self, timeout: float | None = None):
        """The process's next message, watching for `close`, for the process's death and for `timeout`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if deadline is not None and time.monotonic() > deadline:
                self._end()
                raise WorkerDied(f"the face pass's process did not start within {timeout:.0f} s")
            if self._closed.is_set():
                raise PassStopped("the face pass was stopped")
            try:
                if self._conn.poll(0.2):
                    return self._conn.recv()
            except (EOFError, OSError):
                pass
            else:
                if self._proc.is_alive():
                    self._hold(bool(self.pause_when and self.pause_when()))
                    continue
            code = self._proc.exitcode
            self._end()
            if self._closed.is_set():  # killed by close(): the photo stays queued, it did not fail
                raise PassStopped("the face pass was stopped")
            raise WorkerDied(f"the face pass's process ended (exit code {code})")

    def faces(self, path, width: int, settings) -> list:
        """The thorough detector's faces on one photo file, computed in the pass's process."""
        with self._lock:
            if self._closed.is_set():
                raise PassStopped("the face pass was stopped")
            if self._proc is None:
                self._start()
            try:
                self._conn.send((str(path), width, settings))
            except (OSError, ValueError):
                self._end()
                if self._closed.is_set():
                    raise PassStopped("the face pass was stopped") from None
                raise WorkerDied("the face pass's process is gone") from None
            kind, value = self._answer()
        if kind == "ok":
            return value
        if kind == "unreadable":
            raise JaicatError(value)
        raise RuntimeError(value)

    def _hold(self, pause: bool) -> None:
        """Stop or continue the process (where the OS has the signals)."""
        import signal

        if pause == self.paused or not hasattr(signal, "SIGSTOP"):
            return
        try:
            os.kill(self._proc.pid, signal.SIGSTOP if pause else signal.SIGCONT)
            self.paused = pause
        except OSError:
            pass

    def _end(self) -> None:
        self.paused = False
        proc, conn, self._proc, self._conn = self._proc, self._conn, None, None
        if proc is not None:
            if proc.is_alive():
                proc.kill()  # mid-photo: nothing of it is stored, the photo stays queued
            proc.join(10)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """End the process now, mid-photo included; `faces` then raises PassStopped. The process is
        killed before the lock is taken: `faces` may hold it for a moment longer, and a stopping
        server must not leave the process behind whatever happens after."""
        self._closed.set()
        proc = self._proc
        if proc is not None and proc.is_alive():
            proc.kill()
        with self._lock:
            self._end()


def _thorough_one(photo: Photo, settings, models, suggester, compute=None) -> int:
    """One photo through the thorough pass; returns how many faces it added (0 on an unreadable file)."""
    before = photo.faces.count()
    try:
        faces = thorough_pass(photo, settings, models, compute=compute)
    except PassStopped:
        raise
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
                 should_stop: Callable[[], bool] | None = None, compute: Callable | None = None) -> dict:
    """Put every pending photo through the thorough pass now; {"photos", "faces_added"}. `compute`:
    where the detector runs (default in this process, on `models`; FacePass gives its ThoroughWorker's)."""
    if models is None and compute is None:
        raise ValueError("run_thorough needs the FaceModels to run on, or where to compute")
    total = pending_thorough().count()
    done = added = 0
    while not (should_stop and should_stop()):
        photo = pending_thorough().first()
        if photo is None:
            break
        added += _thorough_one(photo, settings, models, suggester, compute)
        done += 1
        if progress:
            progress(done, max(total, done))
    return {"photos": done, "faces_added": added}


class FacePass(PhotoLoop):
    """The background thread of the thorough pass. Held by the Runtime; each photo ingested wakes it
    (it waits for the fast pass). The detector runs in a ThoroughWorker process at idle CPU priority;
    this thread stores what it finds."""

    thread_name = "jaicat-faces"
    retry_seconds = 30.0

    def __init__(self, settings, suggester=None, idle_wait: float = 20.0, busy: Callable[[], bool] | None = None):
        """`busy()` true while more urgent work runs (the analysis worker's photos and captions, and a
        moment after: uploads come a photo at a time): on a CPU the pass's process is held meanwhile
        (ThoroughWorker pause_when). A GPU detector is never held: it keeps up with the pipeline."""
        self.settings = settings
        self.suggester = suggester
        self.busy = busy
        self._on_cpu: bool | None = None
        super().__init__(idle_wait)
        self.worker = self._new_worker()

    def _new_worker(self) -> ThoroughWorker:
        return ThoroughWorker(self.settings.models, self.settings.device, pause_when=self._held)

    def _held(self) -> bool:
        """Whether the pass's process should wait now: on a CPU, while `busy()`."""
        if self.busy is None:
            return False
        if self._on_cpu is None:  # asked in this thread once it runs: finding the GPU imports torch

            self._on_cpu = pick_device(self.settings.device) != "cuda"
        return self._on_cpu and self.busy()

    @property
    def niceness(self) -> int | None:
        """The detector process's nice value once it runs (19: idle), where the OS has one."""
        return self.worker.niceness

    @property
    def worker_pid(self) -> int | None:
        return self.worker.pid

    def start(self):
        if self.worker.closed:
            self.worker = self._new_worker()
        return super().start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the thread; the detector process ends at once, mid-photo included (that photo stays queued)."""
        self._stop.set()
        self.worker.close()
        super().stop(timeout)

    def _step(self) -> None:
        try:
            run_thorough(self.settings, None, self.suggester, should_stop=self._stop.is_set,
                         compute=self.worker.faces)
        except PassStopped:
            pass

    def _step_failed(self, error: Exception) -> None:
        log.exception("thorough face pass error; retrying shortly")
