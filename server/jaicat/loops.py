"""One background thread woken by new photos: the analysis worker and the thorough face pass share
how they start, wake, go idle and stop; each brings its own `_loop`."""

from __future__ import annotations

import logging
import threading
import time

from . import events
from .db import database

log = logging.getLogger(__name__)


class PhotoLoop:
    """A thread woken each time ingest marks a photo ready (`events.photo_ready`): it runs `_begin`
    once, then `_step` whenever woken (or every `idle_wait` seconds), and sets `idle` while it has
    nothing to do (tests wait on it). A failing step is logged and retried after `retry_seconds`."""

    thread_name = "jaicat-loop"
    retry_seconds = 5.0

    def __init__(self, idle_wait: float):
        self.idle_wait = idle_wait
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.idle = threading.Event()
        self._idle_since = 0.0  # time.monotonic() when `idle` was last set

    def quiet_for(self, seconds: float) -> bool:
        """Whether the loop has had nothing to do for at least `seconds` (it wakes on each photo)."""
        return self.idle.is_set() and time.monotonic() - self._idle_since >= seconds

    def start(self):
        """Start the thread (idempotent) and wake it; returns self."""
        events.photo_ready.connect(self._photo_ready)
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
            self._thread.start()
        self.wake()
        return self

    def wake(self) -> None:
        self.idle.clear()
        self._wake.set()

    def _photo_ready(self, photo) -> None:
        self.wake()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the thread after the photo it is on; a loop never started stops at once."""
        events.photo_ready.disconnect(self._photo_ready)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _begin(self) -> None:
        """Run once in the thread before the first step."""

    def _step(self) -> None:
        raise NotImplementedError

    def _step_failed(self, error: Exception) -> None:
        log.exception("%s: step failed; retrying shortly", self.thread_name)

    def _loop(self) -> None:
        try:
            self._begin()
            while not self._stop.is_set():
                self._wake.clear()
                try:
                    self._step()
                except Exception as e:  # noqa: BLE001 - the loop outlives any one failure
                    self._step_failed(e)
                    self._stop.wait(self.retry_seconds)
                    continue
                if self._wake.is_set():
                    continue
                self._idle_since = time.monotonic()
                self.idle.set()
                self._wake.wait(self.idle_wait)
        finally:
            if not database.is_closed():
                database.close()
