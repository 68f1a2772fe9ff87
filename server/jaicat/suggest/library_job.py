"""Learning the library as a background job: on a first start (`jaicat serve` finds a library with
photos in folders and nothing learned yet) and on demand (`POST /api/suggest/learn-library`,
`jaicat suggest learn-library` beside a running server).

    learning = LibraryLearning(settings, suggester, review)   # held by the Runtime (runtime.learning)
    learning.start_if_first()     # serve: learn the library once, in the background
    learning.start()              # learn it again now; returns the Job (the running one if any)

The job is a Job row (kind "learn-library") whose progress goes to the phones as `job.progress`.
It runs Suggester.learn_library, which builds a new engine without holding the suggester's lock, so
serving goes on meanwhile. Learning "once" is recorded in the catalogue: LEARNING_KEY says "running"
when a job starts and service.LEARNED_KEY is set when it finishes; a start that finds "running" but
no LEARNED_KEY (the server stopped mid-way) runs it again - relearning builds afresh, never twice.
When it finishes, the waiting cards are re-suggested (Review.refresh) and pushed to the phones.
"""

from __future__ import annotations

import logging
import threading
import time

from ..config import Settings
from ..db import Decision, Job, Meta, Photo, database, get_meta, set_meta, utcnow
from .review import Review
from .service import LEARNED_KEY, Suggester
from ..photos.ingest import PHOTO_EXTENSIONS

log = logging.getLogger(__name__)

KIND = "learn-library"
LEARNING_KEY = "suggest.library_learning"  # "running" from a job's start until LEARNED_KEY is set
PUBLISH_SECONDS = 0.25  # at most this often a progress event (and at every 1% of the work)


class LibraryLearning:
    """The learn-the-library job of one data directory (one per Runtime)."""

    def __init__(self, settings: Settings, suggester: Suggester, review: Review):
        self.settings = settings
        self.suggester = suggester
        self.review = review
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.job_id: int | None = None  # the latest job started here

    def needed(self) -> bool:
        """A first start: the library was never learned and either a job was interrupted, or nothing
        was decided here yet and library folders hold photos (catalogued or not)."""
        if get_meta(LEARNED_KEY) is not None:
            return False
        if get_meta(LEARNING_KEY) == "running":
            return True
        if Decision.select().exists():
            return False  # learning comes from the decisions already (and a rebuild learns the library)
        filed = Photo.select().where((Photo.root == "library") & (Photo.path.contains("/"))).exists()
        return filed or any(True for _ in self._first_library_file())

    def _first_library_file(self):

        root = self.settings.library
        if root.is_dir():
            for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
                for f in folder.rglob("*"):
                    if f.suffix.lower() in PHOTO_EXTENSIONS and f.is_file():
                        yield f
                        return

    def start_if_first(self) -> Job | None:
        """Start the job if this is a first start (see `needed`); the Job, else None."""
        self._close_interrupted()
        return self.start() if self.needed() else None

    def start(self) -> Job:
        """Learn the library in a background thread now; if a job runs already, that one's Job."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return Job.get_by_id(self.job_id)
            set_meta(LEARNING_KEY, "running")
            job = Job.create(kind=KIND, status="running", message="reading the library")
            job.publish()
            self.job_id = job.id
            self._thread = threading.Thread(target=self._run, args=(job,), name="learn-library", daemon=True)
            self._thread.start()
            return job

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running job (tests, shutdown); True when none runs any more."""
        t = self._thread
        if t is not None:
            t.join(timeout)
        return t is None or not t.is_alive()

    def _close_interrupted(self) -> None:
        """A job left "running" by a server that stopped: close its row (the job itself runs again)."""
        (Job.update(status="failed", message="interrupted (server stopped); learning again", updated_at=utcnow())
         .where((Job.kind == KIND) & Job.status.in_(["running", "queued"])).execute())

    def _run(self, job: Job) -> None:
        with database.connection_context():
            try:
                started = time.monotonic()
                last = [0.0]

                def progress(done: int, total: int) -> None:
                    now = time.monotonic()
                    if done == total or now - last[0] >= PUBLISH_SECONDS or done % max(1, total // 100) == 0:
                        last[0] = now
                        job.advance(done=done, total=total, message="")

                n = self.suggester.learn_library(progress=progress)
                folders = len(self.suggester.engine().known_folders())
                Meta.delete().where(Meta.key == LEARNING_KEY).execute()
                job.advance(status="done", done=max(job.done, n), total=max(job.total, n),
                            message=f"learned {n} photos in {folders} folders "
                                    f"in {time.monotonic() - started:.1f} s")
                log.info("learned the library: %d photos, %d folders", n, folders)
                self.review.refresh()  # the waiting cards get suggestions from what was learned
            except Exception as e:  # noqa: BLE001 - the job says why; the next start tries again
                log.exception("learning the library failed")
                job.advance(status="failed", message=f"{type(e).__name__}: {e}"[:500])
