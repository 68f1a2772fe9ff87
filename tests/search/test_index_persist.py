"""A built annoy index is saved and reused after a restart, and a stale or broken file never gives
wrong or missing results."""

from __future__ import annotations

import json
import logging

import numpy as np

from jaicat.search.index import VectorIndex
from jaicat.search.index_store import IndexStore


def _data(n, d=32, seed=0):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, d)).astype(np.float32)
    return np.arange(1, n + 1, dtype=np.int64), v / np.linalg.norm(v, axis=1, keepdims=True)


def _brute(ids, vecs, q, k):
    sims = vecs @ (q / np.linalg.norm(q))
    return [int(ids[i]) for i in np.argsort(-sims)[:k]]


class Catalogue:
    """The loader's view of the database; counts loads."""

    def __init__(self, ids, vecs):
        self.ids, self.vecs, self.loads = ids, vecs, 0

    def __call__(self):
        self.loads += 1
        return self.ids.copy(), self.vecs.copy()

    def delete(self, item_id):
        keep = self.ids != item_id
        self.ids, self.vecs = self.ids[keep], self.vecs[keep]

    def put(self, item_id, vec):
        self.delete(item_id)
        self.ids = np.append(self.ids, item_id)
        self.vecs = np.vstack([self.vecs, vec / np.linalg.norm(vec)])


def _index(cat, tmp_path, **kw):
    kw = {"brute_force_below": 100, "n_trees": 10, "store": IndexStore(tmp_path / "index", "regions"), **kw}
    return VectorIndex("regions", cat, **kw)


def _built(tmp_path, n=400, **kw):
    cat = Catalogue(*_data(n))
    idx = _index(cat, tmp_path, **kw)
    idx.rebuild(wait=True)
    assert idx.uses_annoy and (tmp_path / "index" / "regions.json").exists()
    return cat


def test_restart_reuses_saved_index_and_matches_brute_force(tmp_path):
    cat = _built(tmp_path)
    meta = json.loads((tmp_path / "index" / "regions.json").read_text())
    assert meta["dim"] == 32 and meta["metric"] == "angular" and meta["n_trees"] == 10 and meta["count"] == 400
    assert not list((tmp_path / "index").glob("*.tmp"))

    restarted = _index(cat, tmp_path)  # a fresh process: same catalogue, nothing in memory
    restarted.warm()
    restarted._build_thread.join(10)
    assert restarted.restored and restarted.uses_annoy and restarted.builds == 0
    assert restarted._build_thread is None or not restarted._build_thread.is_alive()
    rng = np.random.default_rng(3)
    for _ in range(20):
        q = rng.normal(size=32).astype(np.float32)
        assert [i for i, _ in restarted.query(q, 10)] == _brute(cat.ids, cat.vecs, q, 10)
    assert restarted.builds == 0 and restarted.size == 400


def test_first_query_after_restart_loads_the_saved_index(tmp_path):
    cat = _built(tmp_path)
    restarted = _index(cat, tmp_path)
    q = cat.vecs[17]
    assert restarted.query(q, 1)[0][0] == cat.ids[17]
    assert restarted.restored and restarted.uses_annoy
    assert restarted._build_thread is None  # no background build was started


def test_items_added_or_changed_after_the_save_are_found(tmp_path):
    cat = _built(tmp_path)
    q = np.ones(32, dtype=np.float32)
    cat.put(5000, q)  # a region created after the save, before the restart
    cat.put(5, -q)  # an existing region re-embedded (box moved)
    restarted = _index(cat, tmp_path)
    top = restarted.query(q, 3)
    assert top[0][0] == 5000 and abs(top[0][1] - 1.0) < 1e-5
    assert restarted.query(-q, 1)[0][0] == 5 and 5 not in [i for i, _ in restarted.query(q, 400)]
    assert restarted.restored and restarted.size == 401
    for r in (0, 40, 123):
        assert [i for i, _ in restarted.query(cat.vecs[r], 10)] == _brute(cat.ids, cat.vecs, cat.vecs[r], 10)


def test_items_deleted_after_the_save_are_never_returned(tmp_path):
    cat = _built(tmp_path, keep_vectors_below=10)  # annoy-only snapshot, as at 1M regions
    gone = [int(i) for i in cat.ids[:60]]
    for i in gone:
        cat.delete(i)
    restarted = _index(cat, tmp_path, keep_vectors_below=10)
    for i in gone:  # each deleted item's own vector: annoy's best match, which must be dropped
        got = [j for j, _ in restarted.query(_data(400)[1][i - 1], 5)]
        assert i not in got and len(got) == 5
    assert not set(gone) & {j for j, _ in restarted.query(np.ones(32), 400)}
    assert restarted.restored and restarted.size == 340


def test_a_very_stale_file_is_rebuilt_instead(tmp_path):
    cat = _built(tmp_path)
    for i in cat.ids[:300].tolist():
        cat.delete(i)
    restarted = _index(cat, tmp_path, max_tail=50)
    restarted.warm()
    restarted._build_thread.join(10)
    assert not restarted.restored and restarted.builds == 1 and restarted.size == 100
    # ...and the rebuild replaced the file
    assert json.loads((tmp_path / "index" / "regions.json").read_text())["count"] == 100
    assert len(list((tmp_path / "index").glob("regions-*.ann"))) == 1


def test_other_dimension_is_not_loaded(tmp_path):
    _built(tmp_path)
    cat = Catalogue(*_data(400, d=16))  # the CLIP model changed
    restarted = _index(cat, tmp_path)
    q = cat.vecs[3]
    assert restarted.query(q, 1)[0][0] == 4 and not restarted.restored


def test_a_corrupt_file_is_ignored_and_rebuilt(tmp_path, caplog):
    cat = _built(tmp_path)
    folder = tmp_path / "index"
    ann = next(folder.glob("regions-*.ann"))
    ann.write_bytes(ann.read_bytes()[: ann.stat().st_size // 2])  # torn
    with caplog.at_level(logging.WARNING, logger="jaicat.search.index_store"):
        restarted = _index(cat, tmp_path)
        restarted.warm()
        restarted._build_thread.join(10)
    assert "ignoring unreadable saved index" in caplog.text
    assert not restarted.restored and restarted.builds == 1
    q = cat.vecs[9]
    assert [i for i, _ in restarted.query(q, 5)] == _brute(cat.ids, cat.vecs, q, 5)

    # same size but garbage bytes, then a garbled sidecar: still never a crash
    ann = next(folder.glob("regions-*.ann"))
    ann.write_bytes(np.random.default_rng(0).bytes(ann.stat().st_size))
    again = _index(cat, tmp_path)
    assert [i for i, _ in again.query(q, 5)] == _brute(cat.ids, cat.vecs, q, 5) and not again.restored
    again._build_thread.join(10)  # its rebuild saves a good file: garble that one next
    (folder / "regions.json").write_text("{not json")
    third = _index(cat, tmp_path)
    assert [i for i, _ in third.query(q, 5)] == _brute(cat.ids, cat.vecs, q, 5) and not third.restored
