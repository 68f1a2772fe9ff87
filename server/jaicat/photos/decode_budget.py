"""One budget of decode memory for the whole process: every full decode of a photo or a video frame
holds its estimated bytes (width x height x bytes a pixel of its path, imaging.decode_bytes and
video.decode_bytes) while it runs, and waits while the budget is spent.

Per-file limits (max_pixels) stop one bomb; they do not stop eight files just under them arriving
at once (eight 16-bit 8000 x 8000 PNGs of 121 KB each took 3.2 GB before). With the budget, decodes
beyond it queue; one bigger than the whole budget runs alone. An upload waits UPLOAD_WAIT_SECONDS
(photos/uploads.py) and is then answered 503 decode_busy, its bytes kept to finish later; everything
else (analysis, faces) waits DEFAULT_WAIT_SECONDS.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time

from ..errors import DecodeBusy

BUDGET_BYTES = 1024**3  # what a 4 GB home PC can give decoding at once, beside the models
DEFAULT_WAIT_SECONDS = 300.0
UPLOAD_WAIT_SECONDS = 15.0
_wait = contextvars.ContextVar("decode_wait", default=DEFAULT_WAIT_SECONDS)


class DecodeBudget:
    """Bytes of decode memory the process may use at once (a counting semaphore on bytes)."""

    def __init__(self, limit: int = BUDGET_BYTES):
        self.limit = limit
        self.used = 0
        self.peak = 0  # the most held at once (for benches and tests)
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def hold(self, nbytes: int, what: str = "a photo"):
        """Hold `nbytes` of the budget for the block; waits (up to the caller's wait_at_most) while it
        is spent, then raises DecodeBusy. A decode bigger than the whole budget waits to run alone."""
        need = max(0, min(int(nbytes), self.limit))
        deadline = time.monotonic() + _wait.get()
        with self._cond:
            while self.used and self.used + need > self.limit:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DecodeBusy(
                        f"the server is decoding other large files ({self.used / 2**20:.0f} MB of its "
                        f"{self.limit / 2**20:.0f} MB decode memory in use; {what} needs "
                        f"{nbytes / 2**20:.0f} MB); send it again in a minute", retry_after=30)
                self._cond.wait(left)
            self.used += need
            self.peak = max(self.peak, self.used)
        try:
            yield
        finally:
            with self._cond:
                self.used -= need
                self._cond.notify_all()


@contextlib.contextmanager
def wait_at_most(seconds: float):
    """Decodes in this block (this thread) wait at most `seconds` for the budget."""
    token = _wait.set(seconds)
    try:
        yield
    finally:
        _wait.reset(token)


BUDGET = DecodeBudget()  # the process's one budget: decodes of every thread share it
