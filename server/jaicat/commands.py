"""Work a `jaicat` command asks for, done by whoever owns the data directory: the command's own
process when no server runs (it holds the data directory's lock), else the running server as a
background job (`POST /api/local/...`, accepted only with the local credential from this machine),
so that the server's own objects - its suggester and review queue, search indexes, analysis worker
and websocket - do the change and know it at once.

Each kind is one function `work(runtime, params, progress) -> dict` (a JSON result the command
prints the same way wherever it ran), behind one check of its input:

    params = check("import", {"paths": ["/home/amy/Photos"], "device": None})   # InvalidInput if bad
    result = run("import", runtime, params, progress)        # here, in this process
    job = runtime.commands.start("import", params)           # the server: a Job row, worked in order
    runtime.commands.result(job.id)                          # its result once the job is done

`progress(done, total, stage)` moves the job (`done`, `total`, `message` = stage; `job.progress`
events). Paths must be absolute: the server does not run in the command's working directory.
Input that turns out bad only while working (a file that is not a learning log) fails the job with
the reason as its message, the same message the command prints when it works alone.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict, deque
from typing import Callable

from .db import Job, database, utcnow
from .errors import Conflict, InvalidInput, JaicatError, Stopped
from .photos.ingest import ingest_paths
from . import xmp
from .search.regions import import_annotations
from .people.persons import rematch_faces
from .people.known import enroll_folder
from .people.known import import_npy_dir
from .people.persons import recluster_unknown_faces

log = logging.getLogger(__name__)

PUBLISH_SECONDS = 0.25  # at most this often a progress event (and at every stage change)
MAX_WAITING = 16  # command jobs queued at once; one more is refused (409 conflict)
KEEP_RESULTS = 100  # results of finished jobs kept for the commands that follow them
MAX_PATHS = 10_000  # paths one import names
MAX_IDS = 100_000  # photo ids one `xmp write` names

Progress = Callable[[int, int, str], None]


# --- input --------------------------------------------------------------------------------------
def _only(params: dict, *names: str) -> dict:
    if not isinstance(params, dict):
        raise InvalidInput("the parameters must be a JSON object")
    extra = sorted(set(params) - set(names))
    if extra:
        raise InvalidInput(f"unknown parameter {extra[0]!r} (expected {', '.join(names) or 'none'})")
    return params


def _path(params: dict, name: str, kind: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value or "\0" in value:
        raise InvalidInput(f"{name!r} must be the path of a {kind}")
    if not os.path.isabs(value):
        raise InvalidInput(f"{name!r} must be an absolute path (the server does not run in your folder): {value}")
    if kind == "folder" and not os.path.isdir(value):
        raise InvalidInput(f"not a folder: {value}")
    if kind == "file" and not os.path.isfile(value):
        raise InvalidInput(f"no such file: {value}")
    return value


def _flag(params: dict, name: str, default: bool) -> bool:
    value = params.get(name, default)
    if not isinstance(value, bool):
        raise InvalidInput(f"{name!r} must be true or false")
    return value


def _check_import(p: dict) -> dict:
    _only(p, "paths", "device")
    paths = p.get("paths")
    if not isinstance(paths, list) or not paths or len(paths) > MAX_PATHS:
        raise InvalidInput(f"'paths' must be a list of 1 to {MAX_PATHS} absolute paths")
    for path in paths:
        if not isinstance(path, str) or not path or "\0" in path or not os.path.isabs(path):
            raise InvalidInput(f"every path must be absolute (the server does not run in your folder): {path!r}")
    device = p.get("device")
    if device is not None and (not isinstance(device, str) or not device.strip() or len(device) > 200):
        raise InvalidInput("'device' must be a name of 1 to 200 characters")
    return {"paths": list(paths), "device": device}


def _check_file(p: dict) -> dict:
    _only(p, "file")
    return {"file": _path(p, "file", "file")}


def _check_folder(p: dict) -> dict:
    _only(p, "dir", "rematch")
    return {"dir": _path(p, "dir", "folder"), "rematch": _flag(p, "rematch", True)}


def _check_xmp(p: dict) -> dict:
    _only(p, "photo_ids", "all")
    ids = p.get("photo_ids") or []
    if not isinstance(ids, list) or len(ids) > MAX_IDS or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**63 for i in ids):
        raise InvalidInput(f"'photo_ids' must be a list of at most {MAX_IDS} photo ids")
    return {"photo_ids": ids, "all": _flag(p, "all", False)}


def _check_nothing(p: dict) -> dict:
    _only(p)
    return {}


# --- work ---------------------------------------------------------------------------------------
LISTED = 1000  # entries of each list an import's answer names (its counts hold them all)


def import_photos(rt, p: dict, progress: Progress) -> dict:
    """Import files and folder trees into the inbox (photos.ingest): each new photo is announced and
    wakes the analysis worker of the process that imports it."""

    s = ingest_paths(p["paths"], rt.settings, progress=lambda d, t, *_: progress(d, t, "importing"),
                     source_device=p["device"], should_stop=rt.commands.stopping)
    if s.stopped:
        raise Stopped(f"stopped: the server stopped after {s.line()}; run the command again for the "
                      "rest (what was imported is kept, the rest are found as new)")
    # Re-importing a large folder makes a duplicate of every file: the answer lists at most LISTED of each
    # kind (a 200k-file folder would otherwise answer tens of MB), and `counts` holds every one.
    return {"imported": s.imported, "duplicates": [list(d) for d in s.duplicates[:LISTED]],
            "rejected": [{"path": path, "reason": reason} for path, reason in s.rejected[:LISTED]],
            "skipped": s.skipped[:LISTED], "line": s.line(),
            "counts": {"imported": len(s.imported), "duplicates": len(s.duplicates), "rejected": len(s.rejected),
                       "skipped": len(s.skipped)}}


def import_learning_log(rt, p: dict, progress: Progress) -> dict:
    """Learn the desktop scripts' tag_learning_log.json; the waiting cards are suggested again."""
    progress(0, 1, "learning the log")
    n = rt.suggester.import_learning_log(p["file"])
    rt.review.refresh()
    progress(1, 1, "learning the log")
    return {"decisions": n, "line": f"imported {n} decisions"}


def write_sidecars(rt, p: dict, progress: Progress) -> dict:
    """XMP sidecars for library photos (xmp.write_sidecars)."""

    r = xmp.write_sidecars(rt.settings, photo_ids=p["photo_ids"] or None, all=p["all"],
                           progress=lambda d, t: progress(d, t, "writing sidecars"))
    return {"written": r["written"], "unchanged": r["unchanged"], "failed": [list(f) for f in r["failed"]],
            "line": f"{r['written']} written, {r['unchanged']} unchanged, {len(r['failed'])} failed"}


def import_regions(rt, p: dict, progress: Progress) -> dict:
    """Regions from an annotation file, embedded with the process's models into its search indexes."""

    r = import_annotations(rt.settings, p["file"], models=rt.models, indexes=rt.indexes,
                           progress=lambda d, t: progress(d, t, "importing regions"))
    return {"created": r.created, "images": r.images, "unmatched": r.unmatched,
            "rejected": [list(x) for x in r.rejected], "line": r.line()}


def _rematch(rt, progress: Progress) -> dict:

    return rematch_faces(rt.settings, progress=lambda d, t, *_: progress(d, t, "re-matching faces"))


def enroll_people(rt, p: dict, progress: Progress) -> dict:
    """People from a folder of one subfolder of photos per person, then re-match the faces."""

    s = enroll_folder(p["dir"], rt.settings, progress=lambda d, t, *_: progress(d, t, "enrolling"), models=rt.faces)
    return {"people": s.people, "added": s.added, "already": s.already,
            "rejected": [list(x) for x in s.rejected], "line": s.line(),
            "rematch": _rematch(rt, progress) if s.added and p["rematch"] else None}


def import_encodings(rt, p: dict, progress: Progress) -> dict:
    """Known face encodings from a folder of `<Person_Name>_<id>.npy`, then re-match the faces."""

    s = import_npy_dir(p["dir"], progress=lambda d, t, *_: progress(d, t, "importing"))
    return {"imported": s.imported, "duplicates": s.duplicates, "new_people": s.new_people,
            "rejected": [list(x) for x in s.rejected], "line": s.line(),
            "rematch": _rematch(rt, progress) if s.imported and p["rematch"] else None}


def rematch(rt, p: dict, progress: Progress) -> dict:
    """Match every unconfirmed face again against the known encodings."""
    return _rematch(rt, progress)


def recluster(rt, p: dict, progress: Progress) -> dict:
    """Regroup the unknown faces."""

    progress(0, 1, "regrouping unknown faces")
    n = recluster_unknown_faces()
    progress(1, 1, "regrouping unknown faces")
    return {"groups": n, "line": f"{n} groups of unknown faces"}


# kind -> (input check, work, the route under /api/local/ the running server takes it at)
KINDS: dict[str, tuple[Callable[[dict], dict], Callable, str]] = {
    "import": (_check_import, import_photos, "import"),
    "suggest-import-log": (_check_file, import_learning_log, "suggest/import-log"),
    "xmp-write": (_check_xmp, write_sidecars, "xmp/write"),
    "regions-import": (_check_file, import_regions, "regions/import"),
    "faces-enroll": (_check_folder, enroll_people, "faces/enroll"),
    "faces-import": (_check_folder, import_encodings, "faces/import"),
    "faces-rematch": (_check_nothing, rematch, "faces/rematch"),
    "faces-recluster": (_check_nothing, recluster, "faces/recluster"),
}


def check(kind: str, params: dict | None) -> dict:
    """`params` checked and normalised for `kind`; InvalidInput says what is wrong."""
    if kind not in KINDS:
        raise InvalidInput(f"no such command job: {kind}")
    return KINDS[kind][0](params if params is not None else {})


def route(kind: str) -> str:
    """The path the running server takes `kind` at."""
    return f"/api/local/{KINDS[kind][2]}"


def run(kind: str, rt, params: dict, progress: Progress | None = None) -> dict:
    """Do `kind` now in this process with the runtime `rt`'s objects; its result."""
    return KINDS[kind][1](rt, params, progress or (lambda d, t, s: None))


# --- the server's queue of command jobs ------------------------------------------------------------
STOPPED = "stopped: the server stopped before the job began; run the command again"
STOP_WAIT_SECONDS = 10  # a stopping server waits this long for the running job (within gunicorn's 20 s)


class Commands:
    """The command jobs of one serving process (held by the Runtime as `runtime.commands`): worked one
    at a time, in the order asked, in a background thread, each a Job row of its kind."""

    def __init__(self, runtime):
        self.runtime = runtime
        self._lock = threading.Lock()
        self._waiting: deque[tuple[Job, str, dict]] = deque()
        self._thread: threading.Thread | None = None
        self._results: OrderedDict[int, dict] = OrderedDict()
        self._idle = threading.Event()
        self._idle.set()
        self._closed = threading.Event()

    def start(self, kind: str, params: dict | None) -> Job:
        """Check `params` (InvalidInput) and queue the job; Conflict when MAX_WAITING wait already."""
        params = check(kind, params)
        with self._lock:
            if self._closed.is_set():
                raise Conflict("the server is stopping; run the command again")
            if len(self._waiting) >= MAX_WAITING:
                raise Conflict(f"{MAX_WAITING} command jobs wait already; try again when they are done")
            busy = self._thread is not None and self._thread.is_alive()
            job = Job.create(kind=kind, status="queued", message="after the jobs before it" if busy else "")
            job.publish()
            self._waiting.append((job, kind, params))
            self._idle.clear()
            if not busy:
                self._thread = threading.Thread(target=self._loop, name="command-jobs", daemon=True)
                self._thread.start()
        return job

    def result(self, job_id: int) -> dict | None:
        """The result of a finished command job while it is kept (the last KEEP_RESULTS), else None."""
        with self._lock:
            return self._results.get(job_id)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until no command job waits or runs (tests, shutdown); True if so."""
        return self._idle.wait(timeout)

    def stopping(self) -> bool:
        """True once the server stops: a running import ends before its next file."""
        return self._closed.is_set()

    def close(self, timeout: float = STOP_WAIT_SECONDS) -> None:
        """The server stops: jobs still waiting fail at once; the running one is waited for up to
        `timeout` seconds (an import ends before its next file, other jobs run to their end)."""
        with self._lock:
            self._closed.set()
            dropped = [job for job, _kind, _params in self._waiting]
            self._waiting.clear()
            for job in dropped:  # kept before the status says failed, as _work does
                self._results[job.id] = {"error": Stopped.code, "message": STOPPED}
            thread = self._thread
        for job in dropped:
            job.advance(status="failed", message=STOPPED)
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("a command job did not reach its next item within %.0f s of the stop", timeout)

    def close_interrupted(self) -> int:
        """Jobs a stopped server left queued or running: failed, with why (serve, at start)."""
        return (Job.update(status="failed", message="interrupted: the server stopped; run the command again",
                           updated_at=utcnow())
                .where(Job.kind.in_(list(KINDS)) & Job.status.in_(["queued", "running"])).execute())

    def _loop(self) -> None:
        with database.connection_context():
            while True:
                with self._lock:
                    if not self._waiting:
                        self._idle.set()
                        return
                    job, kind, params = self._waiting.popleft()
                self._work(job, kind, params)

    def _work(self, job: Job, kind: str, params: dict) -> None:
        job.advance(status="running", message="")
        last = [0.0]

        def progress(done: int, total: int, stage: str) -> None:
            now = time.monotonic()
            if stage != job.message or done >= total or now - last[0] >= PUBLISH_SECONDS:
                last[0] = now
                job.advance(done=done, total=total, message=stage)

        try:
            result, status = run(kind, self.runtime, params, progress), "done"
            message = result.get("line", "")
        except JaicatError as e:
            result, status, message = {"error": e.code, "message": e.message}, "failed", e.message
        except Exception as e:  # noqa: BLE001 - the job says why; the server goes on
            log.exception("command job %s (%s) failed", job.id, kind)
            message = f"{type(e).__name__}: {e}"[:500]
            result, status = {"error": "internal_error", "message": message}, "failed"
        with self._lock:  # kept before the status says done: a follower that sees done finds it
            self._results[job.id] = result
            while len(self._results) > KEEP_RESULTS:
                self._results.popitem(last=False)
        job.advance(status=status, message=message)
