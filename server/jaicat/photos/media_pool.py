"""Worker processes for the CPU-heavy part of ingest (decode, facts, thumbnails, pHash).

Pillow gives the GIL back inside its decoders and resamplers, but the Python around them (EXIF, the
decoder's feeding loop, thumbnails' saving) holds it, so threads alone do not scale with cores: two
ingest threads on two cores were no faster than one. A `MediaPool` runs `describe` in processes of
its own, one per core it is given, while the calling threads keep the parts that are I/O or catalogue
(copying and hashing, the database row, the rename into the inbox).

Processes are spawned (never forked: the server has threads and open SQLite connections), each keeps
its decoders warm for the pool's life, and a task that kills its process (a decoder crash) fails that
one photo: the pool is rebuilt for the next.

A worker keeps the memory it decodes into (`_steady_memory`): glibc's default returns a 12 MP photo's
freed pixel blocks to the system and faults them in again for the next photo, about 6,000 page faults
a photo, which made a worker's photo 15% dearer than the same work in the calling process.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable

from ..config import Settings
from ..errors import CorruptImage

log = logging.getLogger(__name__)

# (temp file, the user's file name, settings, sha256) -> (catalogue fields, pHash)
Describe = Callable[[Path, str, Settings, str], tuple[dict, str]]


class MediaPool:
    """`describe(tmp, filename, settings, sha)` run in `processes` worker processes; with one process
    or fewer it runs in the calling thread. Thread-safe; a context manager (closing ends the workers)."""

    def __init__(self, describe: Describe, processes: int | None = None):
        self._describe = describe
        self.processes = max(1, processes if processes is not None else (os.cpu_count() or 1))
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> MediaPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def describe(self, tmp: Path, filename: str, settings: Settings, sha: str) -> tuple[dict, str]:
        if self.processes <= 1:
            return self._describe(tmp, filename, settings, sha)
        pool = self._executor()
        try:
            return pool.submit(self._describe, tmp, filename, settings, sha).result()
        except BrokenProcessPool:
            self._discard(pool)
            log.error("a media worker process died on %s; the pool is restarted", filename)
            raise CorruptImage(f"{filename}: the decoder crashed on this file") from None

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(max_workers=self.processes, initializer=_steady_memory,
                                                 mp_context=multiprocessing.get_context("spawn"))
            return self._pool

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


# glibc's mallopt parameters: Pillow allocates pixels in 16 MiB blocks; below this threshold they come
# from the heap, and a heap keeps up to TRIM bytes of freed memory instead of returning it.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 128 * 1024 * 1024


def _steady_memory() -> None:
    """A worker's start: keep freed decode memory for the next photo (glibc only; elsewhere nothing)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
