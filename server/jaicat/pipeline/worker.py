"""The background analysis worker: one thread that analyses pending photos in batches.

Pending = `analysed_at` and `analysis_error` both null, so the queue lives in the catalogue and a
restart simply resumes. Ingest wakes the worker through `jaicat.photos.ingest.photo_ready`; otherwise it
polls every `idle_wait` seconds. Each run of work is a Job row (kind "analyse") whose progress is
published as `job.progress`; each photo publishes `photo.analysed` or `photo.failed` (analysis.py).

Captions are a second queue (Photo.caption_pending, Job kind "caption") worked in this process only
while the first is empty (in the server, once it has been empty for CAPTION_QUIET_S), in small
batches that are abandoned between words as soon as a photo waits for analysis: a new photo's
suggestion never waits for captions.

    worker = Worker(settings, suggester=suggester)   # held by the Runtime (jaicat/runtime.py)
    worker.start()   # in the `serve` entry point, never in create_app
    worker.stop()
    run_pending(settings, progress=cb)   # the same loop, synchronously (jaicat scan, tests)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from .. import events
from .analysis import Analyser
from ..loops import PhotoLoop
from ..models.base import ModelCache
from ..config import Settings
from ..db import Job, Photo, utcnow
from ..errors import ClusterUnavailable
from ..db import Region
from ..search.regions import embed_missing

if TYPE_CHECKING:
    from .cluster import Cluster

log = logging.getLogger(__name__)
CLUSTER_RETRY_S = 600.0  # an unreachable Ray cluster is tried again after this long
# The server's caption pass waits for uploads to pause this long (run_captions), asking every QUIET_POLL_S.
CAPTION_QUIET_S = 1.0
QUIET_POLL_S = 0.05


def _run_batch(analyser: Analyser, batch: list[Photo]) -> tuple[int, int]:
    """Analyse one batch; returns (analysed, failed). A crash of the whole batch marks its photos
    failed (with the reason) so the queue can never spin on them."""
    try:
        results = analyser.analyse(batch)
    except Exception as e:  # noqa: BLE001
        log.exception("analysis batch crashed")
        ids = [p.id for p in batch]
        (Photo.update(analysis_error=f"analysis crashed: {type(e).__name__}: {e}"[:1000])
         .where(Photo.id.in_(ids), Photo.analysed_at.is_null()).execute())
        for i in ids:
            events.publish(events.PHOTO_FAILED, photo_id=i, error=str(e))
        return 0, len(batch)
    failed = sum(1 for r in results if r.error)
    return len(results) - failed, failed


def _in_process(settings: Settings, analyser: Analyser,
                should_stop: Callable[[], bool] | None) -> Iterator[tuple[int, int]]:
    """Analyse pending batches in this process; yields (analysed, failed) per batch."""
    while not (should_stop and should_stop()):
        batch = list(Photo.pending().limit(max(1, settings.batch_size)))
        if not batch:
            return
        yield _run_batch(analyser, batch)


def run_pending(settings: Settings, progress: Callable[[int, int], None] | None = None,
                analyser: Analyser | None = None, should_stop: Callable[[], bool] | None = None,
                cluster: Cluster | None = None, captions: bool = True, caption_quiet: float = 0.0) -> Job | None:
    """Analyse everything pending now (and anything arriving meanwhile), then caption what is analysed
    (unless `captions` is false), going back to analysis whenever a photo arrives; returns the
    analysis Job, or None if there was nothing to analyse. `progress(done, total)` after each batch.
    With a `cluster` (pipeline/cluster.py) the models, captions included, run on its Ray workers and
    `analyser` only stores the results. The caption pass starts once no photo has arrived for
    `caption_quiet` seconds (see run_captions)."""
    analyser = analyser or Analyser(settings)
    job = _run_analysis(settings, progress, analyser, should_stop, cluster)
    if captions:
        while not (should_stop and should_stop()):
            run_captions(settings, analyser, should_stop, cluster, quiet=caption_quiet)
            if not Photo.pending().exists():
                break
            job = _run_analysis(settings, progress, analyser, should_stop, cluster) or job
    return job


def caption_batch_size(settings: Settings) -> int:
    """Photos per caption call: the configured batch size. On a CPU the captioner decodes them
    DECODER_BATCH at a time, the vision tower a batch ahead, and each batch's captions are stored as
    soon as they are decoded: a call abandoned for a new photo loses at most the batch in the decoder."""
    return max(1, settings.batch_size)


def _quiet_for(seconds: float, busy: Callable[[], bool]) -> bool:
    """Wait until `busy()` has stayed false for `seconds`; False as soon as it is true."""
    deadline = time.monotonic() + seconds
    while True:
        if busy():
            return False
        if time.monotonic() >= deadline:
            return True
        time.sleep(QUIET_POLL_S)


def run_captions(settings: Settings, analyser: Analyser, should_stop: Callable[[], bool] | None = None,
                 cluster: Cluster | None = None, quiet: float = 0.0) -> Job | None:
    """The caption pass over analysed photos (on the `cluster`'s workers if given); returns as soon as a
    photo waits for analysis or `should_stop()`. Returns the Job, or None when there is nothing to
    caption or no captioner, or when a photo arrived in the `quiet` seconds it first waits: while a
    phone uploads photo after photo, a caption pass started between two of them would be abandoned
    for the next one, its vision tower's work thrown away."""
    if not settings.captions or not Photo.caption_pending().exists():
        return None
    if cluster is not None:
        if "caption" not in cluster.connect().stages:
            return None
    elif analyser.captioner() is None:
        return None

    def urgent() -> bool:
        return bool(should_stop and should_stop()) or Photo.pending().exists()

    if urgent() or (quiet > 0 and not _quiet_for(quiet, urgent)):
        return None
    job = Job.create(kind="caption", status="running", total=Photo.caption_pending().count(), message="")
    job.publish()
    done = 0
    while not urgent():
        batch = list(Photo.caption_pending().limit(caption_batch_size(settings)))
        if not batch:
            break
        got = (cluster.caption(analyser, batch, should_stop=urgent) if cluster is not None
               else analyser.caption(batch, should_stop=urgent))
        if got is None:
            break
        done += len(batch) - Photo.caption_pending().where(Photo.id.in_([p.id for p in batch])).count()
        job.advance(done=done, total=max(job.total, done + Photo.caption_pending().count()))
    left = Photo.caption_pending().count()
    if not left and cluster is None:
        analyser.captioner().release()  # the memory it keeps between caption calls
    job.advance(status="queued" if left else "done",
            message="resumes after the photos waiting for analysis" if left else "")
    return job


def _run_analysis(settings: Settings, progress, analyser: Analyser, should_stop,
                  cluster: Cluster | None) -> Job | None:
    total = Photo.pending().count()
    if total == 0:
        return None
    if cluster is not None:
        cluster.connect()  # an unreachable cluster raises ClusterUnavailable before any job row exists
    job = Job.create(kind="analyse", status="running", total=total,
                     message="on the Ray cluster" if cluster is not None else "")
    job.publish()
    done = failed = 0
    batches = (cluster.run(analyser, settings.batch_size, should_stop) if cluster is not None
               else _in_process(settings, analyser, should_stop))
    try:
        for ok, bad in batches:
            done, failed = done + ok + bad, failed + bad
            message = f"{failed} failed" if failed else ""
            job.advance(done=done, total=max(job.total, done + Photo.pending().count()), message=message)
            if progress:
                progress(job.done, job.total)
    except Exception as e:
        job.advance(status="failed", message=f"{type(e).__name__}: {e}")
        raise
    if settings.captions and cluster is None:
        analyser.captioner()  # so that the job says when the caption pass cannot run
    stopped = bool(should_stop and should_stop())
    status = "queued" if stopped else "done"
    parts = ["stopped; resumes at next start"] if stopped else []
    if failed:
        parts.append(f"{failed} failed")
    skipped = sorted(analyser.skipped_stages | (cluster.skipped_stages if cluster is not None else set()))
    if skipped:
        parts.append(f"skipped {', '.join(skipped)}: unavailable (weights: `jaicat models pull`)")
    job.advance(status=status, message="; ".join(parts))
    return job


def mark_interrupted_jobs() -> int:
    """Jobs left "running" by a process that died: close them (their photos are still pending)."""
    return (Job.update(status="failed", message="interrupted (server stopped); remaining photos resume",
                       updated_at=utcnow())
            .where(Job.kind.in_(["analyse", "caption"]), Job.status.in_(["running", "queued"])).execute())


class Worker(PhotoLoop):
    """The analysis thread of one data directory. `suggester` (or the given analyser's) stores folder
    suggestions for each photo analysed."""

    thread_name = "jaicat-worker"

    def __init__(self, settings: Settings, analyser: Analyser | None = None, idle_wait: float = 30.0,
                 suggester=None, models: ModelCache | None = None, indexes=None):
        self.settings = settings
        self.indexes = indexes  # the runtime's search.query.Indexes: warmed when idle, kept complete
        self.analyser = analyser or Analyser(settings, suggester=suggester, models=models)
        super().__init__(idle_wait)
        self.last_error: str | None = None
        self._warmed = False
        self.ready = threading.Event()  # set once the models analysis needs are loaded (or failed to)
        self.cluster: Cluster | None = None  # set by the Runtime when `ray_address` is configured
        self._cluster_retry_at = 0.0

    def _begin(self) -> None:
        mark_interrupted_jobs()
        try:
            if self.cluster is None and self.settings.warm_models:
                self.analyser.warm(self._stop.is_set)
        except Exception:  # noqa: BLE001 - a model that cannot load is reported when a photo needs it
            log.exception("loading the analysis models at start failed; they load with the first photo")
        finally:
            self.ready.set()

    def _step(self) -> None:
        self._run_pending()
        self._idle_chores()

    def _step_failed(self, error: Exception) -> None:
        self.last_error = f"{type(error).__name__}: {error}"
        log.exception("worker loop error; retrying shortly")

    def _run_pending(self) -> None:
        """One run over the queue: on the Ray cluster when there is one and it answers, else here."""
        if self.cluster is not None and time.monotonic() >= self._cluster_retry_at:
            try:
                run_pending(self.settings, analyser=self.analyser, should_stop=self._stop.is_set,
                            cluster=self.cluster, caption_quiet=CAPTION_QUIET_S)
                return
            except ClusterUnavailable as e:
                # The PC with the GPU may be switched off: the household's photos are analysed here meanwhile.
                self._cluster_retry_at = time.monotonic() + CLUSTER_RETRY_S
                log.warning("%s; analysing in this process, trying the cluster again in %.0f min",
                            e.message, CLUSTER_RETRY_S / 60)
        run_pending(self.settings, analyser=self.analyser, should_stop=self._stop.is_set,
                    caption_quiet=CAPTION_QUIET_S)

    def _idle_chores(self) -> None:

        if not self._warmed and self.indexes is not None:
            # Load the search indexes in the background now (the saved annoy index when it is
            # usable, else a build), so the first search is not the one that waits.
            self._warmed = True
            for idx in (self.indexes.photos, self.indexes.regions):
                idx.warm()
        if Region.select().where(Region.embedding.is_null()).exists() and self.analyser.clip() is not None:

            embed_missing(self.settings, models=self.analyser.models, indexes=self.indexes)
