"""The date columns of a page (columns.date_scores) are computed for all its photos at once;
each photo's row must be exactly the rule applied to that photo alone."""

import numpy as np

from jaicat.suggest import columns
from jaicat.suggest.engine import SuggestEngine
from jaicat.suggest.features import PhotoFeatures

FOLDERS = ["Events/2024-07-14 Party", "Events/2024-07 Beach", "Trips/2024 Alps", "July 2023", "2024/03 Rome",
           "Family", "Receipts/2024-07-30", "Old/2024-07-15 Gone"]


def one_photo(eng: SuggestEngine, rec: PhotoFeatures, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The rule for one photo, folder by folder."""
    match, conflict = np.zeros(n), np.zeros(n)
    if rec.local is None:
        return match, conflict
    y, m, d = rec.local[:3]
    for f in range(n):
        fd = eng.dates[f]
        if not eng.alive[f] or not fd:
            continue
        fy, fm, fday = fd
        if fy != y:
            conflict[f] = 1.0
            continue
        match[f] = 1.0
        if fm is None:
            continue
        if fm != m:
            conflict[f] = 0.5
            continue
        match[f] += 1.0
        if fday is not None:
            match[f] += 1.0 if abs(fday - d) <= 1 else -0.5
    return match, conflict


def test_a_pages_date_columns_are_each_photos_own():
    eng = SuggestEngine()
    for path in FOLDERS:
        eng.add_folder(path)
    eng.rename_folder("Old/2024-07-15 Gone", "Family")  # merged away: no longer a candidate by date
    when = ["2024-07-14T12:00:00", "2024-07-15T09:00:00", "2024-07-29T18:00:00", "2024-03-01T08:00:00",
            "2023-07-04T10:00:00", "2022-01-01T00:00:00", None, "2024-12-31T23:00:00"]
    recs = [PhotoFeatures.build(f"p{i}", taken_at=t) for i, t in enumerate(when)]
    n = len(eng.folders)
    match, conflict = columns.date_scores(eng.date_arr, eng.alive, recs, n)
    assert match.shape == conflict.shape == (len(recs), n)
    for b, rec in enumerate(recs):
        want_match, want_conflict = one_photo(eng, rec, n)
        assert np.array_equal(match[b], want_match) and np.array_equal(conflict[b], want_conflict)
    party = eng.index["Events/2024-07-14 Party"]
    assert match[0, party] == 3.0 and match[2, party] == 1.5  # the right day, then two weeks off
    assert conflict[4, party] == 1.0 and not match[6].any() and not conflict[6].any()
