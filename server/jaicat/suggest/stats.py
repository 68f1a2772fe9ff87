"""Online statistics the engine keeps per signal, each answering "how much does this photo point at
each folder" as a dense vector over folder indices, in well under a millisecond.

Counts are "decayed" by the engine's growing increment (see SuggestEngine._inc): adding `inc` instead of
1 and letting `inc` grow exponentially is the same as shrinking every older count, without touching them.
"""

from __future__ import annotations

import math

import numpy as np

_SLACK = 1e-3  # far above the rounding of a float32 dot product of unit vectors (~1e-5)
_PAGE_MIN = 4  # photos from which a matrix product over the ring pays
_KM_PER_LAT = 110.57


def _grow(a: np.ndarray, n: int, fill=0) -> np.ndarray:
    if n <= a.shape[0]:
        return a
    cap = max(n, a.shape[0] * 2, 16)
    out = np.full((cap,) + a.shape[1:], fill, dtype=a.dtype)
    out[: a.shape[0]] = a
    return out


class TokenRow:
    """Sparse counts of one token over folders: decayed weight and raw photo count per folder."""

    __slots__ = ("idx", "cnt", "raw", "pos", "size", "total", "raw_total")

    def __init__(self):
        self.idx = np.zeros(4, np.int32)
        self.cnt = np.zeros(4, np.float64)
        self.raw = np.zeros(4, np.float64)
        self.pos: dict[int, int] = {}
        self.size = 0
        self.total = 0.0
        self.raw_total = 0.0

    def add(self, f: int, w: float, raw: float) -> None:
        slot = self.pos.get(f)
        if slot is None:
            slot = self.size
            self.pos[f] = slot
            self.size += 1
            if self.size > self.idx.shape[0]:
                self.idx, self.cnt, self.raw = (_grow(a, self.size) for a in (self.idx, self.cnt, self.raw))
            self.idx[slot] = f
        self.cnt[slot] = max(0.0, self.cnt[slot] + w)
        self.raw[slot] = max(0.0, self.raw[slot] + raw)
        self.total = max(0.0, self.total + w)
        self.raw_total = max(0.0, self.raw_total + raw)

    def raw_for(self, f: int) -> float:
        slot = self.pos.get(f)
        return 0.0 if slot is None else float(self.raw[slot])


class TokenTable:
    """Token -> folder co-occurrence, scored as a smoothed Bayes lift log(p(f|t) / p(f)).

    For a token seen with folder f `c` times (decayed) the evidence for f is log(1 + c / (beta * p(f)))
    up to a constant shared by all folders, so tokens never seen, or spread like the folders themselves,
    say nothing; `beta` is the pseudo-count that keeps one co-occurrence from being proof.
    """

    def __init__(self, beta: float = 3.0):
        self.beta = beta
        self.rows: dict[str, TokenRow] = {}

    def add(self, tokens: dict, f: int, inc: float, raw: float = 1.0) -> None:
        for t, w in tokens.items():
            row = self.rows.get(t)
            if row is None:
                row = self.rows[t] = TokenRow()
            row.add(f, inc * w, raw)

    def score(self, tokens: dict, prior: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Add the evidence of `tokens` ({token: weight}) for every folder into `out`; returns out."""
        self.score_many([tokens], prior, out[None, :])
        return out

    def score_many(self, token_dicts: list[dict], prior: np.ndarray, out: np.ndarray,
                   lifts: dict | None = None) -> np.ndarray:
        """score() for several photos at once: row b of `out` (photos x folders) gets the evidence of
        token_dicts[b], as score() would add for it alone up to rounding, from one matrix product of
        the photos' token weights by the tokens' lifts over the folders. `lifts` keeps each token's lift
        for the next page while the counts and `prior` stay the same. Returns out."""
        n = out.shape[1]
        lifts = {} if lifts is None else lifts
        cols: dict[str, int] = {}
        at_b, at_c, at_w = [], [], []
        norm = np.ones(len(token_dicts))
        for b, tokens in enumerate(token_dicts):
            total_w = 0.0
            for t, w in tokens.items():
                row = self.rows.get(t)
                if row is None or row.size == 0:
                    continue
                at_b.append(b)
                at_c.append(cols.setdefault(t, len(cols)))
                at_w.append(w)
                total_w += w
            # correlated tags would otherwise count many times over
            norm[b] = max(1.0, math.sqrt(total_w))
        if not cols:
            return out
        weights = np.zeros((len(token_dicts), len(cols)))
        weights[at_b, at_c] = at_w
        weights /= norm[:, None]
        L = np.empty((len(cols), n))
        for t, c in cols.items():
            lift = lifts.get(t)
            if lift is None:
                row = self.rows[t]
                i = row.idx[: row.size]
                lift = lifts[t] = np.zeros(n)
                lift[i] = np.log1p(row.cnt[: row.size] / (self.beta * prior[i]))
            L[c] = lift
        out += weights @ L
        return out

    def scale(self, factor: float) -> None:
        for row in self.rows.values():
            row.cnt[: row.size] *= factor
            row.total *= factor

    def merge_token(self, src: str, dst: str) -> None:
        """Token `src` is `dst` from now on: its counts are added to dst's, and src is gone."""
        row = self.rows.pop(src, None)
        if row is None:
            return
        into = self.rows.get(dst)
        if into is None:
            self.rows[dst] = row
            return
        for slot in range(row.size):
            into.add(int(row.idx[slot]), float(row.cnt[slot]), float(row.raw[slot]))

    def merge_folder(self, src: int, dst: int) -> None:
        """Fold folder `src` into `dst` (a rename onto an existing folder). src's index is retired."""
        for row in self.rows.values():
            slot = row.pos.pop(src, None)
            if slot is None:
                continue
            d = row.pos.get(dst)
            if d is None:
                row.pos[dst] = slot
                row.idx[slot] = dst
            else:  # the retired slot keeps count 0 and scores nothing
                row.cnt[d] += row.cnt[slot]
                row.raw[d] += row.raw[slot]
                row.cnt[slot] = row.raw[slot] = 0.0


class TimeIndex:
    """Capture times of learned photos, sorted, with their folder: "taken minutes apart -> together"."""

    def __init__(self):
        self.ts = np.zeros(0, np.float64)
        self.folder = np.zeros(0, np.int32)
        self.rid = np.zeros(0, np.int64)

    def add(self, ts: float, f: int, rid: int) -> None:
        i = int(np.searchsorted(self.ts, ts))
        self.ts = np.insert(self.ts, i, ts)
        self.folder = np.insert(self.folder, i, f)
        self.rid = np.insert(self.rid, i, rid)

    def remove(self, rid: int) -> None:
        keep = self.rid != rid
        self.ts, self.folder, self.rid = self.ts[keep], self.folder[keep], self.rid[keep]

    def window(self, ts: float, span: float) -> tuple[np.ndarray, np.ndarray]:
        """(|dt| seconds, folder) of photos taken within `span` seconds of ts."""
        lo = int(np.searchsorted(self.ts, ts - span))
        hi = int(np.searchsorted(self.ts, ts + span, side="right"))
        return np.abs(self.ts[lo:hi] - ts), self.folder[lo:hi]


class VectorIndex:
    """Embeddings of the most recent `capacity` learned photos (a ring) plus a running direction per
    folder, so old folders keep a voice after their photos leave the ring. Exact dot products over at
    most `budget` floats (8 MB: 4096 CLIP-512 vectors), one mat-vec of well under a millisecond on an
    idle core: the ring is sized by memory traffic, not by count, so latency does not grow with history."""

    def __init__(self, capacity: int | None = None, budget: int = 2_000_000):
        self.fixed_capacity = capacity
        self.budget = budget
        self.capacity = capacity or 0
        self.dim: int | None = None
        self.mat = np.zeros((0, 0), np.float32)
        self.folder = np.full(0, -1, np.int32)
        self.rid = np.full(0, -1, np.int64)
        self.n = 0  # rows filled
        self.next = 0  # ring write position
        self.sums = np.zeros((0, 0), np.float32)  # per-folder (decayed) sum of embeddings
        self.units = np.zeros((0, 0), np.float32)  # the same, each row scaled to unit length

    def accepts(self, v: np.ndarray | None) -> bool:
        return v is not None and (self.dim is None or v.shape[0] == self.dim)

    def _init(self, dim: int) -> None:
        self.dim = dim
        self.capacity = self.fixed_capacity or max(1024, self.budget // dim)
        self.mat = np.zeros((self.capacity, dim), np.float32)
        self.folder = np.full(self.capacity, -1, np.int32)
        self.rid = np.full(self.capacity, -1, np.int64)
        self.sums = np.zeros((16, dim), np.float32)
        self.units = np.zeros((16, dim), np.float32)

    def add(self, v: np.ndarray, f: int, rid: int, inc: float) -> None:
        if self.dim is None:
            self._init(v.shape[0])
        self.mat[self.next] = v
        self.folder[self.next] = f
        self.rid[self.next] = rid
        self.next = (self.next + 1) % self.capacity
        self.n = min(self.n + 1, self.capacity)
        self.sums = _grow(self.sums, f + 1)
        self.sums[f] += np.float32(inc) * v
        self._unit(f)

    def remove(self, rid: int, v: np.ndarray | None, f: int, inc: float) -> None:
        hit = self.rid[: self.n] == rid
        self.folder[: self.n][hit] = -1
        self.mat[: self.n][hit] = 0
        if v is not None and self.dim is not None and f < self.sums.shape[0] and v.shape[0] == self.dim:
            self.sums[f] -= np.float32(inc) * v
            self._unit(f)

    def _unit(self, f: int) -> None:
        self.units = _grow(self.units, self.sums.shape[0])
        norm = float(np.linalg.norm(self.sums[f]))
        self.units[f] = self.sums[f] / norm if norm > 1e-12 else 0.0

    def neighbours(self, v: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(similarity, folder) of the k most similar stored photos, best first."""
        return self.neighbours_many(v[None, :], k)[0]

    def neighbours_many(self, vs: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """neighbours() for each row of `vs`; a page of photos reads the ring once.

        Similarities are einsum's own single-threaded dot products (a threaded gemv is faster on an
        idle machine but stalls for tens of ms when the home PC is busy, and p99 is what shows). For a
        page, one matrix product (BLAS) first picks each photo's candidates: its rounding depends on
        the page, so it only keeps every stored photo within _SLACK of the k-th best, whose
        similarities are then computed exactly as for a single photo. A photo's neighbours are the
        same alone or in a page; ties are broken by position in the ring."""
        if self.n == 0:
            return [(np.zeros(0, np.float32), np.zeros(0, np.int32)) for _ in range(len(vs))]
        mat = self.mat[: self.n]
        live = np.nonzero(self.folder[: self.n] >= 0)[0]
        keep = None
        if len(vs) >= _PAGE_MIN and live.size > k:
            rough = vs @ mat.T  # photo-major
            if live.size < self.n:
                rough = rough[:, live]
            # each photo's k-th best rough similarity from one partition over the page (the same order
            # statistic as the photo's own partition)
            kth = np.partition(rough, live.size - k, axis=1)[:, live.size - k]
            keep = rough >= (kth - _SLACK)[:, None]
        out = []
        for b, v in enumerate(vs):
            if live.size <= k:
                cand = live
            elif keep is None:  # one photo: exact over the whole ring
                sims = np.einsum("ij,j->i", mat, v)[live]
                cand = live[sims >= np.partition(sims, live.size - k)[live.size - k]]
            else:
                cand = live[keep[b]]
            sims = np.einsum("ij,j->i", mat[cand], v)
            top = np.lexsort((cand, -sims))[:k]
            out.append((sims[top], self.folder[cand[top]]))
        return out

    def centroid_sims(self, v: np.ndarray, nfolders: int) -> np.ndarray:
        """Cosine of v to each folder's mean direction (0 for folders without embeddings)."""
        out = np.zeros(nfolders, np.float64)
        m = min(nfolders, self.units.shape[0])
        if m:
            out[:m] = self.units[:m] @ v
        return out

    def scale(self, factor: float) -> None:
        self.sums *= np.float32(factor)

    def merge_folder(self, src: int, dst: int) -> None:
        self.folder[self.folder == src] = dst
        if src < self.sums.shape[0]:
            self.sums = _grow(self.sums, dst + 1)
            self.sums[dst] += self.sums[src]
            self.sums[src] = 0
            self._unit(src)
            self._unit(dst)


class GeoIndex:
    """GPS positions of the latest `capacity` learned photos with GPS (a ring), searched with an
    equirectangular distance; places older than the ring still speak through tags and embeddings.

    Searches read a view of the live points kept until the ring changes, sorted by latitude, so a
    photo measures only the points in its band of latitude.

    The engine's wide proximity kernel (exp(-d / 20 km)) reads `groups`, also kept until the ring
    changes: the points of one folder in one cell of GRID degrees as one point, weighted by their
    count, at their mean position (a few times fewer than the points around a home; the kernel of a
    group moves by well under 1% from its points'). A decision does not make them afresh: the point
    it adds (and the one it pushes out of the ring, or an undo takes out) joins them as a group of +1
    (or -1) of its own, up to DELTAS of them."""

    GRID = 0.02  # degrees: 2.2 km north-south
    DELTAS = 256  # points added or taken out that the groups patch before they are made afresh

    def __init__(self, capacity: int = 16384):
        self.capacity = capacity
        self.lat = np.zeros(capacity, np.float64)
        self.lon = np.zeros(capacity, np.float64)
        self.folder = np.full(capacity, -1, np.int32)
        self.rid = np.full(capacity, -1, np.int64)
        self.n = 0
        self.next = 0
        self._view = self._grid = self._delta = self._groups_view = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        for derived in ("_view", "_grid", "_delta", "_groups_view"):  # not saved in snapshots
            state[derived] = None
        return state

    def _changed(self, *points: tuple) -> None:
        """The ring changed: the views go; the groups take each (lat, lon, folder, +1 or -1) point
        added or taken out as a group of its own, until DELTAS of them ask for a fresh grid."""
        self._view = self._groups_view = None
        delta = getattr(self, "_delta", None)
        if getattr(self, "_grid", None) is not None and delta is not None and len(delta) + len(points) <= self.DELTAS:
            delta.extend(points)
        else:
            self._grid = self._delta = None

    def add(self, gps: tuple, f: int, rid: int) -> None:
        out = []
        if self.n == self.capacity and self.folder[self.next] >= 0:  # the oldest point leaves the ring
            out.append((float(self.lat[self.next]), float(self.lon[self.next]), int(self.folder[self.next]), -1.0))
        self.lat[self.next], self.lon[self.next] = gps
        self.folder[self.next] = f
        self.rid[self.next] = rid
        self.next = (self.next + 1) % self.capacity
        self.n = min(self.n + 1, self.capacity)
        self._changed(*out, (float(gps[0]), float(gps[1]), int(f), 1.0))

    def remove(self, rid: int) -> None:
        hit = np.flatnonzero((self.rid[: self.n] == rid) & (self.folder[: self.n] >= 0))
        out = [(float(self.lat[i]), float(self.lon[i]), int(self.folder[i]), -1.0) for i in hit]
        self.folder[hit] = -1
        self._changed(*out)

    def _live(self) -> tuple:
        """The live points sorted by latitude: km north of the first live point and degrees east of it
        (float32), folder, latitude and longitude; the smallest and largest longitude and the first
        point (lat, lon)."""
        view = getattr(self, "_view", None)  # snapshots from before the view have none
        if view is None:
            keep = np.nonzero(self.folder[: self.n] >= 0)[0]
            keep = keep[np.argsort(self.lat[keep], kind="stable")]
            lat, lon, folder = self.lat[keep], self.lon[keep], self.folder[keep]
            ref = (float(lat[0]), float(lon[0])) if keep.size else (0.0, 0.0)
            north = ((lat - ref[0]) * _KM_PER_LAT).astype(np.float32)
            east = (lon - ref[1]).astype(np.float32)
            bounds = (float(lon.min()), float(lon.max())) if keep.size else (0.0, 0.0)
            view = self._view = (north, east, folder, lat, lon, bounds, ref)
        return view

    def near(self, gps: tuple, radius_km: float) -> tuple[np.ndarray, np.ndarray]:
        """(distance km as float32, folder) of stored points within radius_km, in order of latitude.

        Only the points in the photo's band of latitude are measured. Offsets are float32 from one of
        the points (millimetres near it, under a metre across the globe): half the memory traffic of
        float64 over thousands of points."""
        if self.n == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int32)
        north, east, folder, lat, _lon, _bounds, _ref = self._live()
        band = radius_km / _KM_PER_LAT * (1.0 + 1e-6) + 1e-6  # a point outside it is further than radius_km
        lo, hi = np.searchsorted(lat, (gps[0] - band, gps[0] + band))
        d, hit = self._measure(north[lo:hi], east[lo:hi], gps, radius_km)
        return d, folder[lo:hi][hit]

    def merge_folder(self, src: int, dst: int) -> None:
        self.folder[self.folder == src] = dst
        self._grid = None
        self._changed()

    def _groups(self) -> tuple:
        """One group per folder per cell of the grid, at the mean position of its points, with their
        count (and each point added or taken out since, as a group of +1 or -1): as offsets from the
        view's reference point (float32), folder and count."""
        if getattr(self, "_grid", None) is None:
            live = np.flatnonzero(self.folder[: self.n] >= 0)
            lat, lon, folder = self.lat[live], self.lon[live], self.folder[live]
            row = np.floor(lat / self.GRID).astype(np.int64)
            col = np.floor(lon / self.GRID).astype(np.int64)
            order = np.lexsort((folder, col, row))
            row, col, folder = row[order], col[order], folder[order]
            new = np.ones(folder.size, bool)
            new[1:] = (np.diff(row) != 0) | (np.diff(col) != 0) | (np.diff(folder) != 0)
            first = np.flatnonzero(new)
            count = np.diff(np.append(first, folder.size)).astype(np.float64)
            means = [np.add.reduceat(x[order], first) / count if first.size else np.zeros(0) for x in (lat, lon)]
            self._grid, self._delta, self._groups_view = (means[0], means[1], folder[first], count), [], None
        view = getattr(self, "_groups_view", None)
        if view is None:
            lat, lon, folder, count = self._grid
            if self._delta:
                extra = np.array(self._delta)  # lat, lon, folder, +1/-1 (folder ids are exact in float64)
                lat, lon = np.concatenate([lat, extra[:, 0]]), np.concatenate([lon, extra[:, 1]])
                folder = np.concatenate([folder, extra[:, 2].astype(np.int32)])
                count = np.concatenate([count, extra[:, 3]])
            ref = self._live()[-1]
            north = ((lat - ref[0]) * _KM_PER_LAT).astype(np.float32)
            view = self._groups_view = (north, (lon - ref[1]).astype(np.float32), folder, count)
        return view

    def _measure(self, north: np.ndarray, east: np.ndarray, gps: tuple, radius_km: float) -> tuple:
        """(distance km, which) of the given offsets within radius_km of gps (equirectangular, float32)."""
        *_, (lon_min, lon_max), ref = self._live()
        lat0, lon0 = gps
        d2 = np.subtract(north, np.float32((lat0 - ref[0]) * _KM_PER_LAT))
        np.square(d2, out=d2)
        dx = np.subtract(east, np.float32(lon0 - ref[1]))
        if lon_max - lon0 > 180.0 or lon0 - lon_min > 180.0:  # some points are nearer the other way round
            np.abs(dx, out=dx)
            np.minimum(dx, np.float32(360.0) - dx, out=dx)
        dx *= np.float32(111.32 * math.cos(math.radians(lat0)))
        np.square(dx, out=dx)
        d2 += dx
        hit = np.flatnonzero(d2 <= np.float32(radius_km * radius_km))
        return np.sqrt(d2[hit]), hit

    def groups(self, gps: tuple, radius_km: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(distance km as float32, folder, count) of the groups (a folder's points in one cell, at their
        mean position) within radius_km of gps."""
        if self.n == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int32), np.zeros(0)
        g_north, g_east, g_folder, count = self._groups()
        d, hit = self._measure(g_north, g_east, gps, radius_km)
        return d, g_folder[hit], count[hit]
