"""A page of cards is suggested in one pass (SuggestEngine.predict_many; one card is a page of one): the
answers must be those of one card at a time, on a realistic household history with CLIP-sized
embeddings - the same folders in the same order (but for exact ties) and the same reasons, with scores
equal up to the rounding of a matrix product over the page (rtol 1e-9)."""

import sys
from pathlib import Path

import numpy as np
import pytest

from jaicat.suggest import reasons
from jaicat.suggest.engine import SuggestEngine
from jaicat.suggest.features import FEATURES, PhotoFeatures, parse_record
from jaicat.suggest.stats import TokenTable, VectorIndex

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from histories import household  # noqa: E402


def learned(seed: int, n: int, waiting: int, dim: int = 128, **kw):
    objs = household(seed, n + waiting, dim=dim)
    eng = SuggestEngine(**kw)
    for i, obj in enumerate(objs[:n]):
        rec, folder = parse_record(obj, f"record {i}")
        eng.learn(rec, folder, update_weights=i >= n - 400)
    return eng, [parse_record(o)[0] for o in objs[n:]]


def as_dicts(answers):
    return [[s.as_dict() for s in sugg] for sugg in answers]


def close(x: float, y: float) -> bool:
    return abs(x - y) <= 1e-12 + 1e-9 * abs(y)


def assert_same(page, one):
    """The same suggestions: folder by folder (two folders may only trade places when their scores
    tie), scores within rounding, and the same reason for the same folder."""
    assert len(page) == len(one)
    for a, b in zip(page, one, strict=True):
        assert len(a) == len(b)
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert close(x.score, y.score), (i, x, y)
            if x.folder != y.folder:
                assert any(s.folder == x.folder and close(s.score, x.score) for s in b), (i, x, y)
            else:
                assert x.reason == y.reason


@pytest.mark.parametrize("seed", [3, 4, 5])  # the three folder schemes of bench/histories.py
def test_a_page_is_answered_exactly_as_one_card_at_a_time(seed):
    # a small ring so the page's matrix product picks among evicted and live neighbours
    eng, waiting = learned(seed, 1500, 130, vector_capacity=800)
    eng.forget(f"h{seed}-{1400:06d}")  # an undone decision leaves a dead row in the ring
    one = [eng.predict(r, 5) for r in waiting]
    eng.drop_caches()
    page = eng.predict_many(waiting, 5)  # two pages of 64 and a short one
    assert_same(page, one)
    assert sum(1 for a in page if a) == len(waiting)


def test_a_mixed_page_keeps_each_cards_own_evidence():
    eng, waiting = learned(6, 800, 20, dim=64)
    bare = PhotoFeatures.build("bare")  # no date, tags, people, place or embedding
    odd = PhotoFeatures.build("odd", "2030-01-01T00:00:00", {"receipt": 0.9},
                              embedding=np.ones(32, np.float32))  # another embedding size: ignored
    recs = [waiting[0], bare, waiting[1], odd, waiting[2]]
    one = [eng.predict(r, 3) for r in recs]
    many = eng.predict_many(recs, 3)
    assert_same(many, one)
    for rec, ev in zip(recs, eng.evidence_many(recs), strict=True):
        alone = eng.evidence_many([rec])[0]
        assert np.array_equal(ev.candidates, alone.candidates)
        assert np.allclose(ev.X, alone.X, rtol=1e-12, atol=1e-12)
        assert ("embedding" in ev.detail) == (rec is not bare and rec is not odd)
    assert eng.predict_many([], 3) == []
    assert eng.predict_many(recs, 0) == [[]] * len(recs)


def test_a_page_follows_each_decision():
    # the page cache (prior, recency, token lifts) must not outlive a decision, an undo or a rename
    eng, waiting = learned(7, 600, 10, dim=64)
    before = as_dicts(eng.predict_many(waiting, 3))
    top = before[0][0]["folder"]
    eng.rename_folder(top, top + " (renamed)")
    after = as_dicts(eng.predict_many(waiting, 3))
    assert after[0][0]["folder"] == top + " (renamed)"
    assert_same(eng.predict_many(waiting, 3), [eng.predict(r, 3) for r in waiting])
    eng.learn(waiting[1], "Brand new", corrected=True)
    assert_same(eng.predict_many(waiting, 3), [eng.predict(r, 3) for r in waiting])
    eng.forget(waiting[1].id)
    assert_same(eng.predict_many(waiting, 3), [eng.predict(r, 3) for r in waiting])


def test_index_batches_match_single_queries():
    rng = np.random.default_rng(1)
    vi = VectorIndex(capacity=300)
    vecs = rng.standard_normal((400, 48)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    for i, v in enumerate(vecs[:350]):  # wraps the ring
        vi.add(v, i % 7, i, 1.0)
    vi.add(vecs[0], 3, 9999, 1.0)
    vi.add(vecs[0], 4, 10000, 1.0)  # an exact tie: broken by ring position, alone or in a page
    vi.remove(200, vecs[200], 200 % 7, 1.0)
    queries = np.vstack([vecs[0], vecs[350:]])
    many = vi.neighbours_many(queries, 16)
    for q, (sims, fs) in zip(queries, many, strict=True):
        s1, f1 = vi.neighbours(q, 16)
        assert np.array_equal(sims, s1) and np.array_equal(fs, f1)
        exact = np.sort(vi.mat[: vi.n][vi.folder[: vi.n] >= 0] @ q)[::-1][:16]
        assert np.allclose(sims, exact, atol=1e-5)  # really the 16 nearest
    assert list(many[0][1][:2]) == [3, 4]

    table = TokenTable()
    for i in range(200):
        table.add({f"t{i % 13}": 1.0, f"u{i % 5}": 0.5}, i % 9, 1.0 + i / 100)
    prior = np.full(9, 1 / 9)
    docs = [{"t1": 0.9, "u2": 0.3}, {}, {"nope": 1.0}, {"t12": 0.2, "t3": 1.0, "u4": 0.7}]
    out = np.zeros((len(docs), 9))
    table.score_many(docs, prior, out, {})
    for doc, row in zip(docs, out, strict=True):
        assert np.allclose(row, table.score(doc, prior, np.zeros(9)), rtol=1e-12, atol=1e-15)
    t1 = np.log1p(table.rows["t1"].cnt[: table.rows["t1"].size] / (3.0 * prior[table.rows["t1"].idx[: table.rows["t1"].size]]))
    want = np.zeros(9)
    np.add.at(want, table.rows["t1"].idx[: table.rows["t1"].size], 0.9 * t1)
    u2 = table.rows["u2"]
    np.add.at(want, u2.idx[: u2.size], 0.3 * np.log1p(u2.cnt[: u2.size] / (3.0 * prior[u2.idx[: u2.size]])))
    assert np.allclose(out[0], want / np.sqrt(1.2))  # the smoothed lifts, weighed, over sqrt(total weight)



def test_a_page_mixes_cards_with_every_folder_and_with_some():
    # a folder with no photos and out of the recent ones is a candidate only for photos named like it:
    # in one page, those take their block of every folder whole and the others gather their rows
    objs = household(8, 900, dim=64)
    eng = SuggestEngine()
    for i, obj in enumerate(objs[:800]):
        eng.learn(*parse_record(obj, f"record {i}"))
        if i == 50:
            eng.add_folder("Paperwork/Receipts")
    waiting = [parse_record(o)[0] for o in objs[800:806]]
    receipt = PhotoFeatures.build("receipt", "2021-03-04T10:00:00", {"receipt": 0.9})
    recs = waiting[:3] + [receipt] + waiting[3:]
    n = len(eng.folders)
    page = eng.evidence_many(recs)
    assert page[3].candidates.size == n and all(ev.candidates.size < n for i, ev in enumerate(page) if i != 3)
    for rec, ev in zip(recs, page, strict=True):
        eng.drop_caches()
        alone = eng.evidence(rec)
        assert np.array_equal(ev.candidates, alone.candidates)
        assert np.allclose(ev.X, alone.X, rtol=1e-12, atol=1e-12)
        assert ev.X.flags.c_contiguous
        prior, recent = eng._page_base(n)[:2]  # each row is its own folder's: the size and recency columns
        assert np.array_equal(ev.X[:, 0], np.log(prior)[ev.candidates])
        assert np.array_equal(ev.X[:, 1], recent[ev.candidates] * eng.mask[1])
    eng.drop_caches()
    assert_same(eng.predict_many(recs, 3), [eng.predict(r, 3) for r in recs])


def test_each_signals_share_sums_its_own_columns():
    eng, waiting = learned(9, 500, 6, dim=64)
    evidence = eng.evidence_many(waiting)
    for ev in evidence:  # a signal's columns are adjacent (the shares sum them in one pass)
        assert ev.X.shape[1] == len(FEATURES)
    for cols in reasons.GROUP_COLS.values():
        assert cols == list(range(cols[0], cols[-1] + 1))
    ev = evidence[0]
    n = ev.candidates.size
    js = [0, 3, n - 1]
    got = reasons.Shares(eng.weights, ev).rows(js)
    weighted = ev.X * eng.weights
    for j, shares in zip(js, got, strict=True):
        others = (weighted.sum(axis=0) - weighted[j]) / (n - 1)
        want = {g: sum(weighted[j][c] - others[c] for c in cols) * (0.5 if g in ("prior", "recent") else 1.0)
                for g, cols in reasons.GROUP_COLS.items()}
        assert [g for _, g in shares] == sorted(want, key=lambda g: (want[g], g), reverse=True)
        assert all(abs(s - want[g]) < 1e-9 for s, g in shares)
