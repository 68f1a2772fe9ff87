"""The running state of one data directory: the objects a process owns while it serves or runs a
command, created once at start-up and closed at the end.

    runtime = Runtime(settings)          # builds the objects; nothing runs, nothing is connected
    runtime.open()                       # a CLI command: the catalogue open, sidecars kept in step
    runtime.connect()                    # ... and the suggester learning from each filing
    runtime.start()                      # `jaicat serve`: connect, warm the suggester, start the worker,
                                         # the thorough face pass and the video preview maker
    runtime.close()                      # stop them, disconnect, save the suggester's snapshot

The Flask app holds its runtime as `app.extensions["jaicat"]` (web/app.py); tests make as many as they
like, one per data directory.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time

from threadpoolctl import threadpool_limits

from . import events
from .commands import Commands
from .config import Settings
from .errors import DataDirInUse
from .db import open_db
from .devices.local_api import LocalAccess
from .people.faces import FaceModels
from .people.passes import FacePass
from .photos import trash
from .photos.uploads import Receiver
from .pipeline.cluster import Cluster
from .models.base import ModelCache
from .pipeline.previews import PreviewMaker
from .pipeline.worker import Worker
from .search.query import Indexes
from .suggest.autofiler import AutoFiler
from .suggest.library_job import LibraryLearning
from .suggest.review import Review
from .suggest.service import Suggester
from .xmp import SidecarWriter
from .backup.check import check


log = logging.getLogger(__name__)
LOCK_FILE = "jaicat.lock"
SERVE_LOCK_WAIT = 10.0  # seconds `serve` waits for commands still running on the data directory
WRITER_WAIT = 10.0  # seconds a writing command waits for another one to finish
SERVE_HOLDER = "jaicat serve"  # how the serving process names itself in the lock file


def one_blas_thread() -> None:
    """Run numpy's matrix products (its OpenBLAS) on the calling thread, for the rest of the process.

    Decided once per process, in its main thread, before anything runs (cli.main; a forked gunicorn
    worker inherits it): OpenBLAS ignores the setting when another thread changes it after the main
    thread did. A threaded product wakes a second thread that then spins about 0.1 s for more work,
    so the suggestion page's few milliseconds of products cost a whole core for that long, and on a
    busy 2-core box the threaded product is not even faster. Only numpy's BLAS is limited: ONNX
    Runtime's and torch's thread pools are their own (bench/review.py measures both ways)."""
    threadpool_limits(limits=1, user_api="blas")


class DataDirLock:
    """`<data_dir>/jaicat.lock`: the serving process holds it exclusively, so it alone owns the
    suggester's snapshot and the review state; a command that changes the data directory holds it
    exclusively too while no server runs (`writer`), so two writers never overlap; a command that
    only reads holds it shared. A reader that cannot (a server or a writer holds it) is a guest: it
    reads and never writes the snapshot. The file names the exclusive holder ("jaicat serve, pid N")
    for other processes: a writer that finds a server asks it over the local API instead."""

    def __init__(self, data_dir):
        self.path = data_dir / LOCK_FILE
        self._fh = None
        self.role: str | None = None  # "serve", "writer", "command" or "guest"

    def serve(self, wait: float = SERVE_LOCK_WAIT) -> None:
        """Take the lock exclusively for `jaicat serve` (waiting up to `wait` seconds for commands)."""
        self.exclusive(SERVE_HOLDER, wait)
        self.role = "serve"

    def exclusive(self, holder: str, wait: float = 0.0) -> None:
        """Take the lock exclusively as `holder` (waiting up to `wait` seconds); DataDirInUse, naming
        the holder, if another server or a command has it."""
        self._try_exclusive(holder, wait, give_way_to_server=False)

    def writer(self, holder: str, wait: float = WRITER_WAIT) -> bool:
        """Take the lock exclusively for a command that changes the data directory: True when taken
        (no server runs; another writing command is waited for up to `wait` seconds, then
        DataDirInUse names it); False when a server holds it - ask the server instead."""
        if self._fh is not None:
            return self.role in ("writer", "serve")
        return self._try_exclusive(holder, wait, give_way_to_server=True)

    def holder(self) -> str:
        """Who holds the lock exclusively, as its file says ("" if nobody says)."""
        try:
            return self.path.read_text(encoding="utf-8").strip()
        except OSError:
            return ""

    def _try_exclusive(self, holder: str, wait: float, give_way_to_server: bool) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)  # a command may be the first to use it
        fh = self._fh or open(self.path, "a+")
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                fh.seek(0)
                other = fh.read().strip()
                if (give_way_to_server and other.startswith(SERVE_HOLDER)) or time.monotonic() >= deadline:
                    if self._fh is None:
                        fh.close()
                    if give_way_to_server and other.startswith(SERVE_HOLDER):
                        return False
                    raise DataDirInUse(f"the data directory {self.path.parent} is in use "
                                       f"({other or 'a jaicat command'}); stop that server or wait for the "
                                       "command to finish") from None
                time.sleep(0.2)
        self._fh, self.role = fh, "writer"
        fh.seek(0)
        fh.truncate()
        fh.write(f"{holder}, pid {os.getpid()}")
        fh.flush()
        return True

    def command(self) -> bool:
        """Take the lock shared for a command; False (a guest) when a server or a writer holds it."""
        if self._fh is not None:
            return self.role != "guest"
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
            self.role = "command"
        except BlockingIOError:
            self.role = "guest"
        self._fh = fh
        return self.role == "command"

    def release(self) -> None:
        if self._fh is not None:
            if self.role in ("serve", "writer"):
                self._fh.seek(0)
                self._fh.truncate()
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh, self.role = None, None


# The thorough face pass (on a CPU) waits until the worker has had nothing to do for this long:
# a phone's upload brings one photo at a time, with the worker idle a moment between them.
WORKER_QUIET_S = 3.0


class Runtime:
    """Owns the model cache, the face models, the suggester, its review queue and auto-filer, the sidecar writer,
    the analysis worker, the thorough face pass, the video preview maker, the Ray cluster it may analyse on
    and the jobs commands on this machine ask a serving process for, of one data directory (`settings`)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.hub = events.Hub()  # published events, fanned out to the phones' websockets and listeners
        self.uploads = Receiver(settings)  # the uploads this process is receiving
        self.models = ModelCache()  # loaded weights, shared by the worker and the web layer's searches
        self.suggester = Suggester(settings)
        self.review = Review(settings, self.suggester, self.hub)  # the review queue and its decisions
        self.auto_filer = AutoFiler(settings, self.review, self.hub)  # files what the suggester is sure of
        self.learning = LibraryLearning(settings, self.suggester, self.review)  # learning the library as a job
        self.sidecars = SidecarWriter(settings, hub=self.hub)  # one per library: two would import each photo's XMP twice
        self.cluster: Cluster | None = None  # the Ray cluster analysis runs on (`ray_address`), if any
        self.indexes = Indexes(settings)  # the search indexes: photo and region embeddings
        self.worker = Worker(settings, suggester=self.suggester, models=self.models, indexes=self.indexes)
        # face models for the commands' thorough pass and enrolment (the server's thorough pass runs in
        # a process of its own, held while the worker has photos or captions to do)
        self.faces = FaceModels(models_dir=settings.models, device=settings.device)
        self.face_pass = FacePass(settings, suggester=self.suggester,
                                  busy=lambda: not self.worker.quiet_for(WORKER_QUIET_S))
        self.previews = PreviewMaker(settings)  # browser-playable previews of videos (serve only)
        if settings.ray_address:
            self.use_cluster(settings.ray_address, settings.ray_workers)
        self.lock = DataDirLock(settings.data_dir)
        self.local = LocalAccess(settings)  # the credential commands on this machine ask the server with
        self.commands = Commands(self)  # the jobs those commands ask the server for (commands/)
        self._open = False

    def use_cluster(self, address: str, workers: int = 0) -> Cluster:
        """Analyse on the Ray cluster at `address` from now on (the worker and `jaicat analyse --ray`);
        it connects on first use."""
        if self.cluster is not None:
            self.cluster.close()
        self.cluster = Cluster(self.settings, address, workers)
        self.worker.cluster = self.cluster
        return self.cluster

    def open(self) -> Runtime:
        """Create the data directories, open (and migrate) the catalogue, and connect the sidecar
        writer, so imports pick up XMP and filings keep sidecars in step. Idempotent; returns self."""
        if not self._open:
            self.settings.ensure_dirs()
            if self.lock.role is None and not self.lock.command():
                self.suggester.read_only = True  # the running server owns the snapshot
            open_db(self.settings.db_path)
            trash.reconcile(self.settings)  # finish or roll back a trash move a crash interrupted
            self.sidecars.connect()
            self.indexes.connect()  # photos analysed here are searchable at once
            self._open = True
        return self

    def connect(self) -> Runtime:
        """Open, and hook the suggester into filing (it learns each decision). Returns self."""
        self.open()
        self.suggester.connect()
        return self

    def start(self) -> Runtime:
        """What `jaicat serve` starts: connect, load the suggester in the background, and run the
        analysis worker unless `settings.worker` is off, with the thorough face pass beside it unless
        `face_thorough` is off. Sidecars also follow face, people and analysis changes while serving.
        Returns self."""
        self.sidecars.follow = True
        self.lock.serve()  # before anything is opened: a second server stops here
        self.connect()
        self._reconcile()
        self.suggester.warm()
        self.review.start()  # waiting cards get fresh suggestions pushed after every change
        self.auto_filer.start()  # photos the suggester is sure of file themselves (auto_file)
        self.previews.start()
        self.commands.close_interrupted()  # before a first-start learning job, a command kind too, begins
        self.learning.start_if_first()  # a library that has photos but nothing learned: learn it now
        if self.settings.worker:
            self.worker.start()
            if self.settings.face_thorough:
                self.face_pass.start()
        return self

    def _reconcile(self) -> None:
        """Start-up repair (backup/check.py): settle interrupted filings and uploads, relink moved
        photos, catalogue inbox orphans, sweep temp files. Alone on the data dir: nothing runs yet."""

        report = check(self.settings, repair=True)
        if not report.clean:
            for line in report.lines():
                log.warning("start-up check: %s", line)

    def close(self) -> None:
        """Stop the face pass (its process first), the command jobs and the worker, disconnect, and save
        what the suggester learned. Every step runs even if one before it fails."""
        steps = [self.local.revoke, self.face_pass.stop, self.commands.close, self.worker.stop, self.previews.stop,
                 self.auto_filer.stop, self.review.stop]
        if self.cluster is not None:
            steps.append(self.cluster.close)
        steps += [self.suggester.close, self.sidecars.close, self.indexes.close, self.lock.release]
        for step in steps:
            try:
                step()
            except Exception:  # noqa: BLE001 - the rest must still stop, save and let go of the lock
                log.exception("stopping: %s failed", getattr(step, "__qualname__", step))
        self._open = False

    def __enter__(self) -> Runtime:
        return self.connect()

    def __exit__(self, *exc) -> None:
        self.close()
