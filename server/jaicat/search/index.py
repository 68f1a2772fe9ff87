"""Cosine nearest-neighbour search that is always complete: an annoy (angular) index rebuilt in the
background plus an exact brute-force "tail" of everything added, changed or deleted since that build.

    idx = VectorIndex("regions", loader)   # loader() -> (ids int64 (n,), vectors float32 (n, d))
    idx.add(id, vec); idx.remove(id)       # call after the catalogue change is committed
    idx.query(vec, k) -> [(id, cosine)]    # best first

Correctness of the tail across a rebuild: every add/remove gets a sequence number; a rebuild notes
the sequence before it calls the loader, and after the atomic swap forgets only tail entries at or
before that point (the loader saw them). Changes made during a build stay in the tail.
Until the first build finishes, queries run brute force over the loaded matrix, so results are
exact from the first call. Collections smaller than `brute_force_below` never need annoy. The tail
is a numpy matrix (one matmul per query); a rebuild starts once it passes `max_tail` rows or
`rebuild_fraction` of the index, which bounds its cost (20k x 512 floats is about a millisecond).

With a `store` (search/index_store.py) each built annoy index is saved, and the first load after a
restart reuses the saved one instead of building (seconds instead of minutes at 1M vectors). The
loader still runs, and the catalogue is compared with the file: rows it lacks or whose vector
changed go to the tail, saved rows no longer in the catalogue are treated as removed, so a stale
file still gives complete, correct results. A file that differs by more than `max_tail` rows is not
used (the index is built as without a store).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .index_store import FP_TOLERANCE, IndexStore, fingerprints

log = logging.getLogger(__name__)

Loader = Callable[[], tuple[np.ndarray, np.ndarray]]


def _normalise(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    if v.size == 0:
        return v
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    if np.all(np.abs(n - 1.0) < 1e-4):  # already unit length: no copy (matters at 1M x 512)
        return v
    return v / np.maximum(n, 1e-12)


def _dot(mat: np.ndarray, q: np.ndarray) -> np.ndarray:
    """mat @ q. Up to ~50k rows via einsum's single-threaded loop: OpenBLAS's thread pool costs
    5-20 ms per call on a busy CPU (measured here, as in people/faces.py), far more than the product."""
    if len(mat) <= 50_000:
        return np.einsum("ij,j->i", mat, q)
    return mat @ q


@dataclass
class _Snapshot:
    ids: np.ndarray  # (n,) int64
    vectors: np.ndarray | None  # (n, d) float32, L2-normalised; dropped once a large annoy is built
    seq: int  # sequence number when the loader was called
    annoy: object | None = None
    row_of: dict = field(default_factory=dict)
    dim: int = 0


class _Tail:
    """Rows added since the snapshot: an append-only matrix with a live mask, compacted on prune."""

    def __init__(self) -> None:
        self.ids = np.zeros(0, np.int64)
        self.seqs = np.zeros(0, np.int64)
        self.vecs: np.ndarray | None = None
        self.live = np.zeros(0, bool)
        self.n = 0
        self.row: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.row)

    def __contains__(self, item_id: int) -> bool:
        return item_id in self.row

    def put(self, item_id: int, seq: int, vec: np.ndarray) -> None:
        self.drop(item_id)
        if self.vecs is None or self.vecs.shape[1] != vec.shape[0]:
            self.ids, self.seqs, self.live, self.n, self.row = (np.zeros(0, np.int64), np.zeros(0, np.int64),
                                                                np.zeros(0, bool), 0, {})
            self.vecs = np.zeros((0, vec.shape[0]), np.float32)
        if self.n == len(self.ids):
            cap = max(64, 2 * self.n)
            self.ids = np.resize(self.ids, cap)
            self.seqs = np.resize(self.seqs, cap)
            self.live = np.concatenate([self.live, np.zeros(cap - len(self.live), bool)])
            grown = np.zeros((cap, self.vecs.shape[1]), np.float32)
            grown[:self.n] = self.vecs[:self.n]
            self.vecs = grown
        self.ids[self.n], self.seqs[self.n], self.vecs[self.n], self.live[self.n] = item_id, seq, vec, True
        self.row[item_id] = self.n
        self.n += 1

    def drop(self, item_id: int) -> None:
        r = self.row.pop(item_id, None)
        if r is not None:
            self.live[r] = False

    def prune(self, upto_seq: int) -> None:
        keep = np.flatnonzero(self.live[:self.n] & (self.seqs[:self.n] > upto_seq))
        self.ids, self.seqs = self.ids[keep].copy(), self.seqs[keep].copy()
        self.vecs = self.vecs[keep].copy() if self.vecs is not None else None
        self.live = np.ones(len(keep), bool)
        self.n = len(keep)
        self.row = {int(i): r for r, i in enumerate(self.ids)}

    def scores(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.n == 0 or self.vecs is None or self.vecs.shape[1] != q.shape[0]:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        sims = _dot(self.vecs[:self.n], q)
        live = self.live[:self.n]
        return self.ids[:self.n][live], sims[live]


class VectorIndex:
    def __init__(self, name: str, loader: Loader, n_trees: int = 10, search_k_factor: int = 40,
                 brute_force_below: int = 20000, rebuild_fraction: float = 0.1, min_rebuild_tail: int = 500,
                 max_tail: int = 20000, keep_vectors_below: int = 200_000, store: IndexStore | None = None):
        self.name = name
        self.store = store
        self.loader = loader
        self.n_trees = n_trees
        self.search_k_factor = search_k_factor
        self.brute_force_below = brute_force_below
        self.rebuild_fraction = rebuild_fraction
        self.min_rebuild_tail = min_rebuild_tail
        self.max_tail = max_tail
        self.keep_vectors_below = keep_vectors_below
        self._lock = threading.RLock()
        self._snap: _Snapshot | None = None
        self._seq = 0
        self._tail = _Tail()
        self._deleted: dict[int, int] = {}  # id -> seq
        self._build_thread: threading.Thread | None = None
        self._loaded = threading.Event()  # set at the first swap
        self.builds = 0
        self.restored = False  # the current snapshot came from the store, not a build

    # changes -----------------------------------------------------------------------------------
    def add(self, item_id: int, vector) -> None:
        """Insert or replace `item_id` (searchable immediately, via the tail)."""
        vec = _normalise(np.asarray(vector, dtype=np.float32).ravel())
        with self._lock:
            self._seq += 1
            self._tail.put(int(item_id), self._seq, vec)
            self._deleted.pop(int(item_id), None)
            self._maybe_schedule()

    def remove(self, item_id: int) -> None:
        with self._lock:
            self._seq += 1
            self._tail.drop(int(item_id))
            self._deleted[int(item_id)] = self._seq

    def invalidate(self) -> None:
        """Forget everything (e.g. the catalogue was swapped); the next query reloads."""
        with self._lock:
            self._snap = None
            self._tail = _Tail()
            self._deleted.clear()
            self._loaded.clear()

    # building ----------------------------------------------------------------------------------
    def _load_snapshot(self) -> _Snapshot:
        with self._lock:
            seq = self._seq
        ids, vecs = self.loader()
        ids = np.asarray(ids, dtype=np.int64)
        vecs = _normalise(vecs).reshape(len(ids), -1) if len(ids) else np.zeros((0, 0), np.float32)
        dim = vecs.shape[1] if vecs.ndim == 2 else 0
        return _Snapshot(ids, vecs, seq, None, {int(i): r for r, i in enumerate(ids.tolist())}, dim)

    def _build_annoy(self, snap: _Snapshot) -> _Snapshot:
        """A new snapshot with the annoy index (the given one may be serving queries meanwhile)."""
        if len(snap.ids) == 0 or len(snap.ids) < self.brute_force_below:
            return snap
        from annoy import AnnoyIndex  # only large collections need it

        ann = AnnoyIndex(snap.dim, "angular")
        for r, v in enumerate(snap.vectors):
            ann.add_item(r, v)
        ann.build(self.n_trees, n_jobs=-1)
        if self.store is not None:  # before it serves queries: annoy's save() re-mmaps the index
            try:
                self.store.save(ann, snap.ids, fingerprints(snap.vectors), snap.dim, self.n_trees)
            except Exception:
                log.exception("index %s: could not save to %s (kept in memory)", self.name, self.store.folder)
        # annoy holds its own copy: dropping ours halves memory at 1M x 512 (2 GB)
        keep = snap.vectors if len(snap.ids) < self.keep_vectors_below else None
        return _Snapshot(snap.ids, keep, snap.seq, ann, snap.row_of, snap.dim)

    def _swap(self, snap: _Snapshot, count: bool = True) -> None:
        with self._lock:
            self._snap = snap
            self._tail.prune(snap.seq)
            self._deleted = {i: s for i, s in self._deleted.items() if s > snap.seq}
            self.builds += int(count)
            self.restored = False
        self._loaded.set()

    def _restore(self, fresh: _Snapshot) -> bool:
        """Serve the saved annoy index for `fresh` (the catalogue as loaded), reconciled with it;
        False if there is none usable."""
        if self.store is None or len(fresh.ids) < self.brute_force_below or not fresh.dim:
            return False
        saved = self.store.load(fresh.dim)
        if saved is None or not len(saved.ids):
            return False
        order = np.argsort(saved.ids, kind="stable")
        at = np.minimum(np.searchsorted(saved.ids[order], fresh.ids), len(order) - 1)
        common = saved.ids[order][at] == fresh.ids
        saved_rows = order[at[common]]
        changed = np.any(np.abs(fingerprints(fresh.vectors)[common] - saved.fps[saved_rows]) > FP_TOLERANCE, axis=1)
        in_fresh = np.zeros(len(saved.ids), bool)
        in_fresh[saved_rows] = True
        to_tail = np.concatenate([np.flatnonzero(~common), np.flatnonzero(common)[changed]])
        gone = saved.ids[~in_fresh]
        if len(to_tail) + len(gone) > self.max_tail:
            log.info("index %s: saved index is %d rows out of date; rebuilding", self.name, len(to_tail) + len(gone))
            return False
        vectors = None
        if len(saved.ids) < self.keep_vectors_below:  # exact queries need rows aligned with annoy's
            if len(fresh.ids) == len(saved.ids) and np.array_equal(fresh.ids, saved.ids):
                vectors = fresh.vectors  # the usual case: same rows in the same order
            else:
                vectors = np.zeros((len(saved.ids), fresh.dim), np.float32)
                vectors[saved_rows] = fresh.vectors[common]
        snap = _Snapshot(saved.ids, vectors, fresh.seq, saved.annoy,
                         {int(i): r for r, i in enumerate(saved.ids.tolist())}, fresh.dim)
        with self._lock:
            self._swap(snap, count=False)
            # at the loader's sequence number, so the next rebuild (whose loader sees them) drops them;
            # ids changed since the loader ran are already in the tail/deletions and win
            for r in to_tail.tolist():
                i = int(fresh.ids[r])
                if i not in self._tail and i not in self._deleted:
                    self._tail.put(i, fresh.seq, fresh.vectors[r])
            for i in gone.tolist():
                if i not in self._tail and i not in self._deleted:
                    self._deleted[int(i)] = fresh.seq
            self.restored = True
            self._maybe_schedule()
        log.info("index %s: loaded saved annoy index (%d items; %d newer, %d gone)", self.name,
                 len(saved.ids), len(to_tail), len(gone))
        return True

    def rebuild(self, wait: bool = True, _loaded: _Snapshot | None = None) -> None:
        """Reload from the loader and rebuild; in the background unless `wait`. Queries stay exact meanwhile."""
        with self._lock:
            if self._build_thread is not None and self._build_thread.is_alive():
                if not wait:
                    return
                t = self._build_thread
            else:
                t = threading.Thread(target=self._rebuild_now, args=(_loaded,), name=f"index-{self.name}",
                                     daemon=True)
                self._build_thread = t
                t.start()
        if wait:
            t.join()

    def warm(self) -> None:
        """Load in the background unless loaded or loading: the saved index when usable, else a build."""
        with self._lock:
            if self._snap is not None or (self._build_thread is not None and self._build_thread.is_alive()):
                return
            self._build_thread = threading.Thread(target=self._rebuild_now, args=(None, True),
                                                  name=f"index-{self.name}", daemon=True)
            self._build_thread.start()

    def _rebuild_now(self, snap: _Snapshot | None = None, reuse_saved: bool = False) -> None:
        try:
            snap = snap or self._load_snapshot()
            if reuse_saved and self._snap is None and self._restore(snap) and not self._stale():
                return
            if self._snap is None:  # nothing to serve yet: exact brute force now, annoy when built
                self._swap(snap, count=False)
            snap = self._build_annoy(snap)
            self._swap(snap)
            log.info("index %s rebuilt: %d items%s", self.name, len(snap.ids), " (annoy)" if snap.annoy else "")
        except Exception:  # a failed rebuild keeps the old snapshot + tail, which are still exact
            log.exception("index %s: rebuild failed", self.name)

    def _stale(self) -> bool:
        """The tail and deletions have grown past what a rebuild should absorb."""
        snap = self._snap
        if snap is None:
            return False
        pending = len(self._tail) + len(self._deleted)
        return pending > min(self.max_tail, max(self.min_rebuild_tail, self.rebuild_fraction * len(snap.ids)))

    def _maybe_schedule(self) -> None:
        if self._stale():
            self.rebuild(wait=False)

    def _snapshot(self) -> _Snapshot:
        snap = self._snap
        if snap is not None:
            return snap
        t = self._build_thread
        if t is not None:  # a background build is loading: use its data, not a second copy
            while t.is_alive() and not self._loaded.wait(0.05):
                pass
            if self._snap is not None:
                return self._snap
        with self._lock:
            if self._snap is None:
                # First use: load synchronously (exact brute force right away), build annoy behind it.
                snap = self._load_snapshot()
                if not self._restore(snap):
                    self._swap(snap)
                    if len(snap.ids) >= self.brute_force_below:
                        self.rebuild(wait=False, _loaded=snap)
            return self._snap

    @property
    def size(self) -> int:
        snap = self._snapshot()
        with self._lock:
            shadowed = sum(1 for i in list(self._tail.row) + list(self._deleted) if i in snap.row_of)
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
        `exact=True` forces brute force over the snapshot (while it still holds its vectors).
        """
        if k <= 0:
            return []
        q = _normalise(np.asarray(vector, dtype=np.float32).ravel())
        snap = self._snapshot()
        with self._lock:  # the tail and deletions are small; holding the lock keeps them consistent
            tail, deleted = self._tail, self._deleted

            def ok(i: int) -> bool:
                return i not in deleted and i not in tail and i not in exclude and (allow is None or allow(i))

            results: dict[int, float] = {}
            if len(snap.ids) and snap.dim == q.shape[0]:
                if snap.annoy is not None and (not exact or snap.vectors is None):
                    self._query_annoy(snap, q, k + len(exclude) + (2 if deleted else 0), k, ok, results)
                else:
                    self._query_brute(snap, q, k, ok, results)
            t_ids, t_sims = tail.scores(q)
            if len(t_ids):
                m = min(len(t_ids), k + len(exclude))
                order = np.argpartition(-t_sims, m - 1)[:m] if m < len(t_ids) else np.arange(len(t_ids))
                if allow is not None:  # a filter may reject the best: rank the whole (small) tail
                    order = np.arange(len(t_ids))
                for r in order:
                    i = int(t_ids[r])
                    if i not in exclude and (allow is None or allow(i)):
                        results[i] = float(t_sims[r])
        return sorted(results.items(), key=lambda t: (-t[1], t[0]))[:k]

    def _query_annoy(self, snap: _Snapshot, q: np.ndarray, want: int, k: int, ok, results: dict) -> None:
        """Ask annoy for `want` (k plus what filters may drop); widen if filters ate too many.
        search_k (nodes inspected) = want * n_trees * search_k_factor trades recall for time."""
        while True:
            rows, dists = snap.annoy.get_nns_by_vector(q, want, search_k=want * self.n_trees * self.search_k_factor,
                                                       include_distances=True)
            for r, d in zip(rows, dists, strict=True):
                i = int(snap.ids[r])
                if ok(i):
                    results[i] = 1.0 - d * d / 2.0  # annoy's angular distance is sqrt(2 - 2 cos)
            if len(results) >= k or len(rows) < want or want >= len(snap.ids):
                return
            want *= 4  # deletions/filters ate the candidates: widen

    @staticmethod
    def _query_brute(snap: _Snapshot, q: np.ndarray, k: int, ok, results: dict) -> None:
        sims = _dot(snap.vectors, q)
        m = min(len(sims), k + 10)
        order = np.argpartition(-sims, m - 1)[:m] if m < len(sims) else np.arange(len(sims))
        order = order[np.argsort(-sims[order], kind="stable")]
        for r in order:
            i = int(snap.ids[r])
            if ok(i):
                results[i] = float(sims[r])
        if len(results) < k and m < len(sims):  # deletions/filters ate the candidates
            for r in np.argsort(-sims, kind="stable")[m:]:
                i = int(snap.ids[r])
                if ok(i):
                    results[i] = float(sims[r])
                    if len(results) >= k:
                        break
