"""VectorIndex: annoy agrees with brute force, and changes since the last build are always found."""

from __future__ import annotations

import threading

import numpy as np

from jaicat.search.index import VectorIndex


def _data(n, d=32, seed=0):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, d)).astype(np.float32)
    return np.arange(1, n + 1, dtype=np.int64), v / np.linalg.norm(v, axis=1, keepdims=True)


def _brute(ids, vecs, q, k, skip=()):
    sims = vecs @ (q / np.linalg.norm(q))
    order = [i for i in np.argsort(-sims) if int(ids[i]) not in skip][:k]
    return [int(ids[i]) for i in order]


def test_annoy_equals_brute_force_on_a_small_set():
    ids, vecs = _data(300)
    idx = VectorIndex("t", lambda: (ids, vecs), brute_force_below=0, n_trees=10)
    idx.rebuild(wait=True)
    assert idx.uses_annoy
    rng = np.random.default_rng(1)
    for _ in range(20):
        q = rng.normal(size=32).astype(np.float32)
        got = idx.query(q, 10)
        assert [i for i, _ in got] == _brute(ids, vecs, q, 10)
        exact = idx.query(q, 10, exact=True)
        assert np.allclose([s for _, s in got], [s for _, s in exact], atol=1e-5)
        assert all(a[1] >= b[1] for a, b in zip(got, got[1:], strict=False))  # best first


def test_a_collection_below_the_annoy_threshold_never_needs_annoy(monkeypatch, caplog):
    # annoy is only for large collections: a household without it (or whose annoy fails to import) must
    # search its first photos exactly, with no failed rebuild in the log.
    import sys

    monkeypatch.setitem(sys.modules, "annoy", None)  # `import annoy` raises ImportError
    ids, vecs = _data(50)
    idx = VectorIndex("t", lambda: (ids, vecs), brute_force_below=1000)
    with caplog.at_level("INFO", logger="jaicat.search.index"):
        idx.rebuild(wait=True)
    assert not idx.uses_annoy
    assert "rebuild failed" not in caplog.text and "rebuilt: 50 items" in caplog.text
    q = vecs[3]
    assert [i for i, _ in idx.query(q, 5)] == _brute(ids, vecs, q, 5)


def test_tail_makes_results_complete_after_build():
    ids, vecs = _data(200)
    store = {"ids": ids, "vecs": vecs}
    idx = VectorIndex("t", lambda: (store["ids"], store["vecs"]), brute_force_below=0, n_trees=8)
    idx.rebuild(wait=True)
    builds = idx.builds
    # a new item identical to a query direction must be the top hit right away, without a rebuild
    q = np.ones(32, dtype=np.float32)
    idx.add(999, q)
    assert idx.builds == builds
    top = idx.query(q, 3)
    assert top[0][0] == 999 and abs(top[0][1] - 1.0) < 1e-5
    # replacing an indexed item's vector: the new vector counts, the old one is gone
    idx.add(5, -q)
    assert 5 not in [i for i, _ in idx.query(q, 200)]
    assert idx.query(-q, 1)[0][0] == 5
    # removal hides it even though annoy still holds it
    idx.remove(7)
    assert 7 not in [i for i, _ in idx.query(vecs[6], 50)]
    assert idx.size == 200  # 200 built + 999 - 7 (5 replaced, not added)
    # the rebuild swaps in data including the changes (the catalogue has them) and empties the tail
    store["ids"] = np.concatenate([ids[ids != 7], [999]])
    v2 = vecs[ids != 7].copy()
    v2[4] = -q / np.linalg.norm(q)
    store["vecs"] = np.vstack([v2, q / np.linalg.norm(q)])
    idx.rebuild(wait=True)
    assert idx.query(q, 1)[0][0] == 999 and idx.query(-q, 1)[0][0] == 5
    assert len(idx._tail) == 0 and len(idx._deleted) == 0


def test_changes_during_a_rebuild_stay_in_the_tail():
    ids, vecs = _data(100)
    gate = threading.Event()
    entered = threading.Event()

    def slow_loader():
        entered.set()
        gate.wait(5)
        return ids, vecs

    idx = VectorIndex("t", lambda: (ids, vecs), brute_force_below=0)
    idx.rebuild(wait=True)
    idx.loader = slow_loader
    idx.rebuild(wait=False)
    entered.wait(5)
    q = np.full(32, -1.0, dtype=np.float32)
    idx.add(5000, q)  # arrives after the loader read: the new build cannot contain it
    gate.set()
    idx.rebuild(wait=True)
    assert idx.query(q, 1)[0][0] == 5000


def test_empty_and_filters():
    idx = VectorIndex("t", lambda: (np.zeros(0, np.int64), np.zeros((0, 0), np.float32)))
    assert idx.query(np.ones(4), 5) == []
    idx.add(1, np.ones(4))
    idx.add(2, -np.ones(4))
    assert [i for i, _ in idx.query(np.ones(4), 5)] == [1, 2]
    assert [i for i, _ in idx.query(np.ones(4), 5, exclude={1})] == [2]
    assert [i for i, _ in idx.query(np.ones(4), 5, allow=lambda i: i == 2)] == [2]


def test_allow_filter_widens_annoy_search():
    ids, vecs = _data(400)
    idx = VectorIndex("t", lambda: (ids, vecs), brute_force_below=0)
    idx.rebuild(wait=True)
    allowed = set(range(390, 401))
    got = idx.query(vecs[0], 5, allow=allowed.__contains__)
    assert len(got) == 5 and {i for i, _ in got} <= allowed
    assert [i for i, _ in got] == _brute(ids[389:], vecs[389:], vecs[0], 5)


def test_large_snapshot_drops_its_vector_copy_and_still_answers():
    ids, vecs = _data(600)
    idx = VectorIndex("t", lambda: (ids, vecs.copy()), brute_force_below=0, keep_vectors_below=500)
    idx.rebuild(wait=True)
    assert idx._snap.vectors is None and idx.uses_annoy
    q = vecs[3]
    got = idx.query(q, 5, exclude={4})
    assert [i for i, _ in got] == _brute(ids, vecs, q, 5, skip={4})
    assert abs(idx.query(q, 1)[0][1] - 1.0) < 1e-4  # cosine from annoy's distance
    assert idx.query(q, 5, exact=True) == idx.query(q, 5)


def test_first_background_build_serves_exact_results_before_annoy_is_ready():
    ids, vecs = _data(300)
    loads = []
    release = threading.Event()

    def loader():
        loads.append(1)
        return ids, vecs

    idx = VectorIndex("t", loader, brute_force_below=0)
    real_build = idx._build_annoy

    def slow_build(snap):
        release.wait(5)
        return real_build(snap)

    idx._build_annoy = slow_build
    idx.rebuild(wait=False)  # as the worker does at start
    got = idx.query(vecs[9], 3)  # arrives while annoy is still building
    assert [i for i, _ in got] == _brute(ids, vecs, vecs[9], 3) and not idx.uses_annoy
    release.set()
    idx._build_thread.join(10)
    assert idx.uses_annoy and len(loads) == 1  # the query reused the build's load
