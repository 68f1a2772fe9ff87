"""The running server's queue of command jobs: what a command asks for as a job (a kind with
`job=True`) is a Job row, worked one at a time in the order asked, in a background thread."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque

from ..db import Job, database, utcnow
from ..errors import Conflict, JaicatError, Stopped
from .registry import KINDS, check, run

log = logging.getLogger(__name__)

PUBLISH_SECONDS = 0.25  # at most this often a progress event (and at every stage change)
MAX_WAITING = 16  # command jobs queued at once; one more is refused (409 conflict)
KEEP_RESULTS = 100  # results of finished jobs kept for the commands that follow them

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
        if not KINDS[kind].job:
            raise Conflict(f"{kind} is not a job: the server answers it at once")
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
                .where(Job.kind.in_([k for k, v in KINDS.items() if v.job]) & Job.status.in_(["queued", "running"])).execute())

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
