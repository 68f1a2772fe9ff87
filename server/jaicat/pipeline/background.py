"""One background thread woken by new photos: the analysis worker and the thorough face pass share
how they start, wake, go idle and stop; each brings its own `_loop`."""

from __future__ import annotations

import threading


class PhotoLoop:
    """A thread that runs `_loop` and is woken each time ingest marks a photo ready
    (`ingest.photo_ready`). `_loop` waits on `_wake`, checks `_stop`, and sets `idle` while it has
    nothing to do (tests wait on it)."""

    thread_name = "jaicat-loop"

    def __init__(self, idle_wait: float):
        self.idle_wait = idle_wait
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.idle = threading.Event()

    def start(self):
        """Start the thread (idempotent) and wake it; returns self."""
        from ..photos import ingest

        ingest.photo_ready.connect(self._photo_ready)
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
        from ..photos import ingest

        ingest.photo_ready.disconnect(self._photo_ready)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        raise NotImplementedError
