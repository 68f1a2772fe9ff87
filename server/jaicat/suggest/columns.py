"""The feature columns of a page of photos over the known folders, one builder per signal.

Each builder reads one of the engine's indexes (stats.py) and writes its columns of F (features x
photos x folders, feature-major so each column of the page is contiguous); `details` keeps, per photo,
the raw evidence the reasons quote. Each photo's cells are what it would get alone (tests/suggest/
test_page.py, test_date_columns.py).
"""

from __future__ import annotations

import numpy as np

from .features import PhotoFeatures, singular
from .stats import GeoIndex, TimeIndex, VectorIndex

TIME_SCALES = ((600.0, 3 * 3600.0), (3 * 3600.0, 36 * 3600.0), (2 * 86400.0, 10 * 86400.0))
KNN = 16


class _PageSums:
    """Per-folder sums of small weights (a few neighbours a photo) for each photo of a page, turned into
    a log(1 + sum) column (photos x folders) at once; each photo's sums add its own weights in its own
    order, as alone."""

    def __init__(self, n: int):
        self.n = n
        self.keys: list[np.ndarray] = []
        self.weights: list[np.ndarray] = []

    def add(self, b: int, fs: np.ndarray, w: np.ndarray) -> None:
        """Photo b gives weight w[i] to folder fs[i]."""
        self.keys.append(fs + b * self.n)
        self.weights.append(w)

    def into(self, out: np.ndarray) -> None:
        """out[b, f] = log(1 + photo b's sum for folder f) where it has one (out is zero elsewhere)."""
        if self.keys:
            keys = np.concatenate(self.keys)
            sums = np.bincount(keys, np.concatenate(self.weights), minlength=out.size)
            nz = np.flatnonzero(sums)
            out.reshape(-1)[nz] = np.log1p(sums[nz])


def _log_sums(fs: np.ndarray, w: np.ndarray, out: np.ndarray) -> None:
    """out[f] = log(1 + sum of the weights `w` of folder f) for the folders in `fs`; out is zero
    elsewhere (log1p(0)), so only the folders named are computed."""
    sums = np.bincount(fs, w, minlength=out.shape[0])
    nz = np.flatnonzero(sums)
    out[nz] = np.log1p(sums[nz])


class _Near:
    """(distance km, folder) of the places within `radius_km` of a photo (GeoIndex.near), measured the
    first time they are read: `d, fs = detail["gps"]`."""

    __slots__ = ("geo", "gps", "radius_km", "found")

    def __init__(self, geo: GeoIndex, gps: tuple, radius_km: float):
        self.geo, self.gps, self.radius_km, self.found = geo, gps, radius_km, None

    def __iter__(self):
        if self.found is None:
            self.found = self.geo.near(self.gps, self.radius_km)
        return iter(self.found)


def _kernel(d: np.ndarray, tau: float) -> np.ndarray:
    """exp(-d / tau) in float32: thousands of places a photo (a float32 exponential is several
    times faster than a float64 one; its 1e-7 relative error is far below what a feature can tell)."""
    w = np.multiply(d, np.float32(-1.0 / tau), dtype=np.float32)
    return np.exp(w, out=w)


def time_columns(times: TimeIndex, recs: list[PhotoFeatures], F: np.ndarray, details: list[dict]) -> None:
    """Capture-time neighbours at three time scales (F[7:10])."""
    sums = [_PageSums(F.shape[2]) for _ in TIME_SCALES]
    for b, rec in enumerate(recs):
        if rec.ts is None:
            continue
        dts, fs = times.window(rec.ts, TIME_SCALES[-1][1])
        details[b]["time"] = (dts, fs)
        for acc, (tau, span) in zip(sums, TIME_SCALES, strict=True):
            near = dts <= span
            if near.any():
                acc.add(b, fs[near], np.exp(-dts[near] / tau))
    for col, acc in enumerate(sums, start=7):
        acc.into(F[col])


def embedding_columns(vectors: VectorIndex, recs: list[PhotoFeatures], F: np.ndarray,
                      details: list[dict]) -> None:
    """Nearest embeddings and folder centroids (F[10:13]): the page's neighbours from one product."""
    n = F.shape[2]
    rows = [b for b, rec in enumerate(recs) if vectors.accepts(rec.embedding)]
    if not rows:
        return
    knn, rel = _PageSums(n), _PageSums(n)
    found = vectors.neighbours_many(np.stack([recs[b].embedding for b in rows]), KNN)
    for b, (sims, fs) in zip(rows, found, strict=True):
        details[b]["embedding"] = (sims, fs)
        if sims.size:
            knn.add(b, fs, np.exp((sims - 1.0) / 0.05))
            rel.add(b, fs, np.exp((sims - sims[0]) / 0.02))
        F[12, b] = vectors.centroid_sims(recs[b].embedding, n)
    knn.into(F[10])
    rel.into(F[11])


def gps_columns(geo: GeoIndex, recs: list[PhotoFeatures], F: np.ndarray, details: list[dict]) -> None:
    """GPS proximity (F[13:15]): exp(-d / 0.5 km) over the places within 5 km, and exp(-d / 20 km)
    within 100 km over the grid's groups (GeoIndex.groups). The places within 100 km that the
    reasons quote are measured only if asked for (detail "gps")."""
    for b, rec in enumerate(recs):
        if rec.gps is None:
            continue
        details[b]["gps"] = _Near(geo, rec.gps, 100.0)
        d, fs = geo.near(rec.gps, 5.0)
        if d.size:
            _log_sums(fs, _kernel(d, 0.5), F[13, b])
        d, fs, count = geo.groups(rec.gps, 100.0)
        if d.size:
            _log_sums(fs, count * _kernel(d, 20.0), F[14, b])


def _name_words(rec: PhotoFeatures, toks: dict) -> dict[str, float]:
    """The words a folder's name may share with the photo, with how much each says: its tags (singular),
    its people's first and joined names, its caption's words (half)."""
    words: dict[str, float] = {}
    for tag, s in toks["tags"].items():
        for w in tag.split():
            words[singular(w)] = max(words.get(singular(w), 0.0), s)
    for p in rec.people:
        parts = p.lower().split()
        for w in parts[:1] + ["".join(parts)]:
            words[w] = 1.0
    for w in toks["words"]:
        words[w] = max(words.get(w, 0.0), 0.5)
    return words


def name_scores(name_index: dict[str, set], rec: PhotoFeatures, toks: dict, n: int) -> np.ndarray:
    """How much of the photo each folder's name names (F[15]), at most 3."""
    out = np.zeros(n)
    if not name_index:
        return out
    fs, ss = [], []
    for w, s in _name_words(rec, toks).items():
        hit = name_index.get(w)
        if hit:
            fs.extend(hit)
            ss.extend([s] * len(hit))
    if not fs:
        return out
    return np.minimum(np.bincount(fs, ss, minlength=n), 3.0)


def date_scores(date_arr: np.ndarray, alive: np.ndarray, recs: list[PhotoFeatures],
                n: int) -> tuple[np.ndarray, np.ndarray]:
    """(match, conflict) of each photo's capture date with each folder's named date (`date_arr`:
    year, month, day per folder, -1 for none), photos x folders (F[16], F[17]); every cell is what the
    photo alone would get (small sums of 1, 0.5 and -0.5)."""
    match, conflict = np.zeros((len(recs), n)), np.zeros((len(recs), n))
    rows = [b for b, rec in enumerate(recs) if rec.local is not None]
    if not rows:
        return match, conflict
    ymd = np.array([recs[b].local[:3] for b in rows], np.int64)
    y, m, d = ymd[:, 0:1], ymd[:, 1:2], ymd[:, 2:3]
    fy, fm, fd = (date_arr[:n, i] for i in range(3))
    dated = (fy >= 0) & alive[:n]
    same_year = dated & (fy == y)
    c = np.where(dated & (fy != y), 1.0, 0.0)
    has_month = same_year & (fm >= 0)
    c[has_month & (fm != m)] = 0.5
    same_month = has_month & (fm == m)
    has_day = same_month & (fd >= 0)
    day = np.where(np.abs(fd - d) <= 1, 1.0, -0.5)
    match[rows] = same_year.astype(np.float64) + same_month + np.where(has_day, day, 0.0)
    conflict[rows] = c
    return match, conflict
