"""Cosine nearest-neighbour search that is always complete: an annoy (angular) index rebuilt in the
background plus an exact brute-force "tail" of everything added, changed or deleted since that build.

    idx = VectorIndex("regions", loader)   # loader() -> (ids int64 (n,), vectors float32 (n, d))
    idx.add(id, vec); idx.remove(id)       # call after the catalogue change is committed
    idx.query(vec, k) -> [(id, cosine)]    # best first

Correctness of the tail across a rebuild: every add/remove gets a sequence number; a rebuild notes
the sequence before it reads the loader, and after the atomic swap forgets only tail entries at or
before that point (the loader saw them). Changes during a build stay in the tail.
Until the first build finishes, queries run brute force over the loaded matrix, so results are
exact from the first call. Collections smaller than `brute_force_below` never need annoy.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

log = logging.getLogger(__name__)

Loader = Callable[[], tuple[np.ndarray, np.ndarray]]


@dataclass
class _Snapshot:
    ids: np.ndarray  # (n,) int64
    vectors: np.ndarray  # (n, d) float32, L2-normalised
    seq: int  # sequence number the loader read at
    annoy: object | None = None
    row_of: dict = field(default_factory=dict)


def _normalise(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-12)


class VectorIndex:
    def __init__(self, name: str, loader: Loader, n_trees: int = 16, search_k_factor: int = 40,
                 brute_force_below: int = 5000, rebuild_fraction: float = 0.1, min_rebuild_tail: int = 500):
        self.name = name
        self.loader = loader
        self.n_trees = n_trees
        self.search_k_factor = search_k_factor
        self.brute_force_below = brute_force_below
        self.rebuild_fraction = rebuild_fraction
        self.min_rebuild_tail = min_rebuild_tail
        self._lock = threading.RLock()
        self._snap: _Snapshot | None = None
        self._seq = 0
        self._tail: dict[int, tuple[int, np.ndarray]] = {}  # id -> (seq, vector)
        self._deleted: dict[int, int] = {}  # id -> seq
        self._build_thread: threading.Thread | None = None
        self.builds = 0

    # changes -----------------------------------------------------------------------------------
    def add(self, item_id: int, vector) -> None:
        """Insert or replace `item_id` (searchable immediately, via the tail)."""
        vec = _normalise(np.asarray(vector, dtype=np.float32).ravel())
        with self._lock:
            self._seq += 1
            self._tail[int(item_id)] = (self._seq, vec)
            self._deleted.pop(int(item_id), None)
            self._maybe_schedule()

    def remove(self, item_id: int) -> None:
        with self._lock:
            self._seq += 1
            self._tail.pop(int(item_id), None)
            self._deleted[int(item_id)] = self._seq

    def invalidate(self) -> None:
        """Forget everything (e.g. the catalogue was swapped); the next query reloads."""
        with self._lock:
            self._snap = None
            self._tail.clear()
            self._deleted.clear()

    # building ----------------------------------------------------------------------------------
    def _load_snapshot(self) -> _Snapshot:
        with self._lock:
            seq = self._seq
        ids, vecs = self.loader()
        ids = np.asarray(ids, dtype=np.int64)
        vecs = _normalise(vecs).reshape(len(ids), -1) if len(ids) else np.zeros((0, 0), np.float32)
        return _Snapshot(ids, vecs, seq, None, {int(i): r for r, i in enumerate(ids)})

    def _build_annoy(self, snap: _Snapshot) -> None:
        from annoy import AnnoyIndex

        if len(snap.ids) == 0 or len(snap.ids) < self.brute_force_below:
            return
        ann = AnnoyIndex(snap.vectors.shape[1], "angular")
        for r, v in enumerate(snap.vectors):
            ann.add_item(r, v)
        ann.build(self.n_trees, n_jobs=-1)
        snap.annoy = ann

    def _swap(self, snap: _Snapshot) -> None:
        with self._lock:
            self._snap = snap
            self._tail = {i: sv for i, sv in self._tail.items() if sv[0] > snap.seq}
            self._deleted = {i: s for i, s in self._deleted.items() if s > snap.seq}
            self.builds += 1

    def rebuild(self, wait: bool = True) -> None:
        """Reload from the loader and rebuild; in the background unless `wait`. Queries stay exact meanwhile."""
        with self._lock:
            if self._build_thread is not None and self._build_thread.is_alive():
                if not wait:
                    return
                t = self._build_thread
            else:
                t = threading.Thread(target=self._rebuild_now, name=f"index-{self.name}", daemon=True)
                self._build_thread = t
                t.start()
        if wait:
            t.join()

    def _rebuild_now(self) -> None:
        try:
            snap = self._load_snapshot()
            self._build_annoy(snap)
            self._swap(snap)
            log.info("index %s rebuilt: %d items%s", self.name, len(snap.ids), " (annoy)" if snap.annoy else "")
        except Exception:  # a failed rebuild keeps the old snapshot + tail, which are still exact
            log.exception("index %s: rebuild failed", self.name)

    def _maybe_schedule(self) -> None:
        snap = self._snap
        if snap is None:
            return
        if len(self._tail) + len(self._deleted) > max(self.min_rebuild_tail, self.rebuild_fraction * len(snap.ids)):
            self.rebuild(wait=False)

    def _snapshot(self) -> _Snapshot:
        snap = self._snap
        if snap is not None:
            return snap
        with self._lock:
            if self._snap is None:
                # First use: load synchronously (exact brute force right away), build annoy behind it.
                snap = self._load_snapshot()
                self._swap(snap)
                if len(snap.ids) >= self.brute_force_below:
                    self.rebuild(wait=False)
            return self._snap

    @property
    def size(self) -> int:
        snap = self._snapshot()
        with self._lock:
            shadowed = sum(1 for i in list(self._tail) + list(self._deleted) if i in snap.row_of)
            return len(snap.ids) - shadowed + len(self._tail)

    @property
    def uses_annoy(self) -> bool:
        snap = self._snap
        return snap is not None and snap.annoy is not None

    # querying ----------------------------------------------------------------------------------
    def query(self, vector, k: int = 10, exclude: set[int] | frozenset = frozenset(),
              allow: Callable[[int], bool] | None = None, exact: bool = False) -> list[tuple[int, float]]:
        """The `k` most similar items as (id, cosine similarity), best first.

        `exclude` ids and ids failing `allow` are skipped (annoy is asked for more to make up).
        `exact=True` forces brute force over the snapshot.
        """
        if k <= 0:
            return []
        q = _normalise(np.asarray(vector, dtype=np.float32).ravel())
        snap = self._snapshot()
        with self._lock:
            tail = dict(self._tail)
            deleted = set(self._deleted)
        hidden = deleted | set(tail) | set(int(x) for x in exclude)

        def ok(i: int) -> bool:
            return i not in hidden and (allow is None or allow(i))

        results: dict[int, float] = {}
        if len(snap.ids):
            if snap.annoy is not None and not exact:
                want = k + len(hidden)
                while True:
                    rows = snap.annoy.get_nns_by_vector(q, want, search_k=want * self.n_trees * self.search_k_factor)
                    for r in rows:
                        i = int(snap.ids[r])
                        if ok(i):
                            results[i] = float(snap.vectors[r] @ q)
                    if len(results) >= k or len(rows) < want or want >= len(snap.ids):
                        break
                    want *= 4  # filters ate the candidates: widen
            else:
                sims = snap.vectors @ q
                m = min(len(sims), k + len(hidden))
                order = np.argpartition(-sims, m - 1)[:m] if m < len(sims) else np.arange(len(sims))
                order = order[np.argsort(-sims[order], kind="stable")]
                for r in order:
                    i = int(snap.ids[r])
                    if ok(i):
                        results[i] = float(sims[r])
                if len(results) < k and m < len(sims):  # an `allow` filter ate the candidates
                    for r in np.argsort(-sims, kind="stable")[m:]:
                        i = int(snap.ids[r])
                        if ok(i):
                            results[i] = float(sims[r])
                            if len(results) >= k:
                                break
        for i, (_, v) in tail.items():
            if i not in exclude and (allow is None or allow(i)):
                results[i] = float(v @ q)
        return sorted(results.items(), key=lambda t: (-t[1], t[0]))[:k]
