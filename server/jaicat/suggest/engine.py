"""The folder suggestion engine: an online ensemble that learns from every decision in microseconds.

Every signal turns a photo into one or more feature columns over the known folders (tag/people/caption/
camera/date token statistics as smoothed Bayes lifts, capture-time neighbours at three time scales,
nearest embeddings and folder centroids, GPS proximity, recency of use, folder names and dates). A
conditional-logit combiner (a softmax over candidate folders of w . x_f) weighs the columns; its weights
are learned prequentially with AdaGrad on the log-loss of each decision, so a signal that proves
unreliable for this household loses its say. The combiner's softmax (trained on log-loss) is multiplied
by (1 - p_new), the tracked rate of photos that went to a folder never used before, so it means "the
photo belongs here", not "of the folders I know"; an online isotonic calibrator (calibrate.py) then maps
it to the hit rate actually observed, so the score shown is a calibrated probability.

Decay: counts are added with a weight that grows by 2**(1/half_life) per decision, which is the same as
forgetting old decisions with that half-life (drift), without touching old counts until a rare rescale.
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from . import columns, names, reasons
from .calibrate import Calibrator
from .features import (FEATURES, SIGNALS, TOKEN_GROUPS, Evidence, PhotoFeatures, folder_date, folder_name_tokens,
                       normalise_folder)
from .stats import GeoIndex, TimeIndex, TokenTable, VectorIndex, _grow

SNAPSHOT_VERSION = 4  # bump when the engine's attributes change: older snapshots are then rebuilt
_RECENT = 30
_PAGE = 64  # photos whose embedding neighbours come from one matrix product


@dataclass
class Suggestion:
    folder: str
    score: float  # calibrated probability that the photo belongs in this folder
    reason: str

    def as_dict(self) -> dict:
        return {"folder": self.folder, "score": round(self.score, 4), "reason": self.reason}


def person_token(person_id: int) -> str:
    """The "people" token of a catalogued person: their id, so lessons survive a rename."""
    return f"#{int(person_id)}"


def person_tokens(rec: PhotoFeatures) -> dict[str, float]:
    """A photo's "people" tokens: person ids where the catalogue knows them, else names (imported
    learning logs, evaluation histories)."""
    ids = getattr(rec, "person_ids", None)  # records pickled before the field have none
    if ids:
        return {person_token(i): 1.0 for i in ids}
    return {p.lower(): 1.0 for p in rec.people}


def _merged(rec: PhotoFeatures, src: int, dst: int) -> tuple[list, list]:
    names, ids = [], []
    dst_name = next((n for n, i in zip(rec.people, rec.person_ids, strict=True) if i == dst), None)
    for name, i in zip(rec.people, rec.person_ids, strict=True):
        if i == src:
            i, name = dst, dst_name or name
        if i not in ids:
            names.append(name)
            ids.append(i)
    return names, ids


def _page_evidence(F: np.ndarray, cand: np.ndarray, details: list[dict]) -> list[Evidence]:
    """Each photo's Evidence from the page's columns F (features x photos x folders) and its candidates.

    Photo-major in one pass (a signal that is off left its columns at 0); a photo whose candidates are
    all the folders (the usual case once a household has history) takes its block as it is, the others
    gather their rows."""
    n = F.shape[2]
    X = np.ascontiguousarray(F.transpose(1, 2, 0))
    totals = F.sum(axis=2).T  # each photo's column sums over every folder (its reasons)
    out = []
    for b in range(F.shape[1]):
        idx = np.nonzero(cand[b])[0]
        if idx.size == n:
            details[b]["totals"] = totals[b]
            out.append(Evidence(idx, X[b], details[b]))
        else:
            Xb = X[b].take(idx, axis=0)
            details[b]["totals"] = Xb.sum(axis=0)
            out.append(Evidence(idx, Xb, details[b]))
    return out


class SuggestEngine:
    """Online folder suggester over PhotoFeatures. Not thread-safe: the Suggester (service.py) wraps it in a lock.

    `signals` restricts the engine to some signal groups (the single-signal baselines of the bench).
    """

    _base = None  # (folders, _page_base()) shared by every photo until the engine changes
    _pattern = None  # (folder names, name_pattern())
    _lasting = None  # lasting_cache()

    def __init__(self, signals=None, half_life: float = 4000.0, correction_weight: float = 2.0,
                 vector_capacity: int | None = None, learning_rate: float = 0.3):
        self.signals = tuple(signals) if signals else SIGNALS
        unknown = set(self.signals) - set(SIGNALS)
        if unknown:
            raise ValueError(f"unknown signals {sorted(unknown)}; known: {', '.join(SIGNALS)}")
        self.half_life = half_life
        self.correction_weight = correction_weight
        self.learning_rate = learning_rate
        self._vector_capacity = vector_capacity
        self.reset()

    # --- state ------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything learned (folders registered with add_folder are forgotten too)."""
        self.folders: list[str] = []
        self.index: dict[str, int] = {}
        self.alive = np.zeros(16, bool)
        self.count = np.zeros(16)  # decayed photos per folder
        self.raw = np.zeros(16)  # photos per folder
        self.name_tokens: list[set] = []
        self.name_index: dict[str, set] = {}
        self.dates: list = []  # (year, month|None, day|None) named by each folder path, or None
        self.date_arr = np.full((16, 3), -1, np.int32)  # the same as an array, -1 for none
        self.tables = {g: TokenTable() for g in TOKEN_GROUPS}
        self.times = TimeIndex()
        self.vectors = VectorIndex(self._vector_capacity)
        self.geo = GeoIndex()
        self.recent: list[tuple[int, int]] = []  # (step, folder) of the latest decisions/creations
        self.step = 0
        self.inc = 1.0
        self.trainable = np.array([g in self.signals for _, g, _ in FEATURES])
        self.weights = np.array([w for _, _, w in FEATURES]) * self.trainable
        if "prior" not in self.signals:
            self.weights[0] = 1e-3  # baselines without the prior still break ties by folder size
        self.mask = self.trainable | (np.arange(len(FEATURES)) == 0)
        self.adagrad = np.full(len(FEATURES), 1e-2)
        self.new_mass, self.all_mass = 1.0, 2.0  # Beta(1,1) prior on "goes to a new folder"
        self.calibrator = Calibrator()
        self.learned: OrderedDict = OrderedDict()  # id -> what forget() needs, for the latest decisions
        self.serial = 0
        self.drop_caches()

    def drop_caches(self) -> None:
        """Drop what was computed from the engine's state (it just learned or forgot something)."""
        self._cache = self._base = None

    def to_bytes(self) -> bytes:
        self.drop_caches()
        self._pattern = self._lasting = None
        return pickle.dumps((SNAPSHOT_VERSION, self), protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def from_bytes(data: bytes) -> SuggestEngine:
        version, engine = pickle.loads(data)
        if version != SNAPSHOT_VERSION or not isinstance(engine, SuggestEngine):
            raise ValueError("snapshot from another engine version")
        return engine

    @property
    def history_size(self) -> int:
        return int(self.raw[: len(self.folders)].sum())

    # --- folders ----------------------------------------------------------------------------------
    def _folder(self, path: str, create: bool = True) -> int | None:
        f = self.index.get(path)
        if f is not None or not create:
            return f
        f = len(self.folders)
        self.folders.append(path)
        self.index[path] = f
        self.alive, self.count, self.raw = (_grow(a, f + 1) for a in (self.alive, self.count, self.raw))
        self.alive[f] = True
        self._set_name(f, path)
        return f

    def _set_name(self, f: int, path: str) -> None:
        toks = folder_name_tokens(path)
        if f < len(self.name_tokens):
            for t in self.name_tokens[f]:
                self.name_index.get(t, set()).discard(f)
            self.name_tokens[f], self.dates[f] = toks, folder_date(path)
        else:
            self.name_tokens.append(toks)
            self.dates.append(folder_date(path))
        self.date_arr = _grow(self.date_arr, f + 1, fill=-1)
        fd = self.dates[f]
        self.date_arr[f] = [-1 if x is None else x for x in fd] if fd else [-1, -1, -1]
        for t in toks:
            self.name_index.setdefault(t, set()).add(f)

    def add_folder(self, path: str, created: bool = True) -> None:
        """Make an (empty) folder suggestible: by its name and date at once, and, when the user just
        created it (`created`), as the likely home of the next photos."""
        path = normalise_folder(path)
        if not path:
            return
        known = path in self.index
        f = self._folder(path)
        if created and not known:
            self.recent.append((self.step, f))
            del self.recent[:-_RECENT]
        self.drop_caches()

    def rename_folder(self, old: str, new: str) -> int:
        """Move the history of `old` (and of its subfolders) to `new`; merges into an existing folder.
        Returns how many folders were renamed."""
        old, new = normalise_folder(old), normalise_folder(new)
        if not old or old == new:
            return 0
        moved = [p for p in self.folders if (p == old or p.startswith(old + "/")) and self.index.get(p) is not None]
        for path in moved:
            f = self.index.pop(path)
            target = new + path[len(old):]
            dst = self.index.get(target)
            if dst is None:
                self.folders[f] = target
                self.index[target] = f
                self._set_name(f, target)
            else:
                self._merge(f, dst)
        self.drop_caches()
        return len(moved)

    def merge_person(self, src: int, dst: int) -> None:
        """Person `src` became part of `dst`: src's lessons are dst's from now on (and an undo of a
        filing learned with src takes them from dst)."""
        self.tables["people"].merge_token(person_token(src), person_token(dst))
        for *_, rec, _step in self.learned.values():
            if src in rec.person_ids:
                rec.people, rec.person_ids = _merged(rec, src, dst)
        self.drop_caches()

    def forget_person(self, person_id: int) -> None:
        """Person `person_id` was forgotten: their lessons go (so a person who later gets the same id
        inherits nothing)."""
        self.tables["people"].rows.pop(person_token(person_id), None)
        for *_, rec, _step in self.learned.values():
            if person_id in rec.person_ids:
                keep = [i for i, p in enumerate(rec.person_ids) if p != person_id]
                rec.people, rec.person_ids = [rec.people[i] for i in keep], [rec.person_ids[i] for i in keep]
        self.drop_caches()

    def key_people_by_id(self, ids_by_name: dict[str, int]) -> int:
        """Re-key lessons learned under a person's name (snapshots from before lessons were keyed by
        id) to that person's id token. Returns the names re-keyed."""
        table, n = self.tables["people"], 0
        for name, person_id in ids_by_name.items():
            if name.lower() in table.rows:
                table.merge_token(name.lower(), person_token(person_id))
                n += 1
        for *_, rec, _step in self.learned.values():
            rec.person_ids = getattr(rec, "person_ids", None) or []  # records pickled before the field
            if rec.people and not rec.person_ids and all(p.lower() in ids_by_name for p in rec.people):
                rec.person_ids = [ids_by_name[p.lower()] for p in rec.people]
        self.drop_caches()
        return n

    def _merge(self, src: int, dst: int) -> None:
        for table in self.tables.values():
            table.merge_folder(src, dst)
        self.times.folder[self.times.folder == src] = dst
        self.vectors.merge_folder(src, dst)
        self.geo.merge_folder(src, dst)
        self.count[dst] += self.count[src]
        self.raw[dst] += self.raw[src]
        self.count[src] = self.raw[src] = 0
        self.alive[src] = False
        self.recent = [(s, dst if f == src else f) for s, f in self.recent]
        self._set_name(src, "")
        self.folders[src] = ""

    def name_pattern(self):
        """The household's pattern for naming a new event's folder (names.pattern_of), or None; kept
        until a folder is added or renamed."""
        key = tuple(self.folders)
        if self._pattern is None or self._pattern[0] != key:
            self._pattern = (key, names.pattern_of([p if self.alive[f] else "" for f, p in enumerate(self.folders)]))
        return self._pattern[1]

    def known_folders(self) -> list[str]:
        return [p for f, p in enumerate(self.folders) if self.alive[f]]

    # --- features ---------------------------------------------------------------------------------
    @staticmethod
    def tokens(rec: PhotoFeatures) -> dict[str, dict]:
        """The categorical evidence of a photo, per token group, as {token: weight}."""
        meta = {
            "cam:" + (rec.camera.lower() if rec.camera else "none"): 1.0,
            "gps:" + ("yes" if rec.gps else "none"): 1.0,
            "ppl:" + str(min(len(rec.people), 3)): 1.0,
        }
        date = {}
        if rec.local is None:
            meta["time:none"] = 1.0
        else:
            y, m, _, hour, wd = rec.local
            meta["hour:" + str(hour // 4)] = 0.5
            meta["weekend" if wd >= 5 else "weekday"] = 0.5
            date = {f"y:{y}": 1.0, f"ym:{y}-{m:02d}": 1.0}
        return {
            "tags": dict(rec.tags),
            "people": person_tokens(rec),
            "words": {w: 1.0 for w in rec.caption_words()},
            "meta": meta,
            "date": date,
        }

    def evidence(self, rec: PhotoFeatures) -> Evidence:
        """The photo's feature columns over the candidate folders, with the details the reasons quote.
        Cached for the same record until the engine learns again."""
        key = (self.step, len(self.folders), self.serial)
        if self._cache is not None and self._cache[0] is rec and self._cache[1] == key:
            return self._cache[2]
        out = self.evidence_many([rec])[0]
        self._cache = (rec, key, out)  # holding rec keeps its identity unique while cached
        return out

    def _page_base(self, n: int) -> tuple[np.ndarray, np.ndarray, dict, dict]:
        """(prior, recent column, token lifts per group, page_cache()): what every photo shares, kept
        until the engine changes."""
        if self._base is not None and self._base[0] == n:
            return self._base[1]
        total = float(self.count[:n].sum())
        prior = (self.count[:n] + 0.5 * self.inc) / (total + 0.5 * self.inc * max(n, 1))
        recent = np.zeros(n)
        for s, f in self.recent:
            recent[f] += 0.7 ** (self.step - s)
        self._base = (n, (prior, np.log1p(recent), {g: {} for g in TOKEN_GROUPS}, {}))
        return self._base[1]

    def lasting_cache(self) -> dict:
        """A dict for what other modules derive from slow-moving state and check themselves (names.py):
        kept across decisions, not saved in snapshots."""
        if self._lasting is None:
            self._lasting = {}
        return self._lasting

    def page_cache(self) -> dict:
        """A dict for what other modules derive from the engine's state (names.py): emptied whenever
        the engine learns, forgets or renames."""
        return self._page_base(len(self.folders))[3]

    def evidence_many(self, recs: list[PhotoFeatures]) -> list[Evidence]:
        """evidence() for a page of photos at once: the columns they share are computed once, the
        token tables are read in one pass and the embedding neighbours come from one matrix product.
        Each photo's evidence is what it would be alone, up to the rounding of the token product
        (tests/suggest/test_page.py)."""
        out: list[Evidence] = []
        for i in range(0, len(recs), _PAGE):
            out.extend(self._evidence_page(recs[i:i + _PAGE]))
        return out

    def _evidence_page(self, recs: list[PhotoFeatures]) -> list[Evidence]:
        n = len(self.folders)
        F = np.zeros((len(FEATURES), len(recs), n))  # feature-major: each column of the page is contiguous
        toks = [self.tokens(rec) for rec in recs]
        details: list[dict] = [{"tokens": t} for t in toks]
        self._shared_columns(toks, F)
        self._signal_columns(recs, toks, F, details)
        return _page_evidence(F, self._candidates(F), details)

    def _shared_columns(self, toks: list[dict], F: np.ndarray) -> None:
        """The prior, recency and token-lift columns (F[0:7]), from what every photo shares."""
        on = set(self.signals)
        prior, recent, lifts, _ = self._page_base(F.shape[2])
        F[0] = np.log(prior)
        if "recent" in on:
            F[1] = recent
        for col, group in enumerate(TOKEN_GROUPS, start=2):
            if group in on:
                self.tables[group].score_many([t[group] for t in toks], prior, F[col], lifts[group])

    def _signal_columns(self, recs: list[PhotoFeatures], toks: list[dict], F: np.ndarray,
                        details: list[dict]) -> None:
        """The time, embedding, GPS and folder-name columns (F[7:18]) of the signals that are on and
        have history (columns.py)."""
        on = set(self.signals)
        if "time" in on and self.times.ts.size:
            columns.time_columns(self.times, recs, F, details)
        if "embedding" in on and self.vectors.n:
            columns.embedding_columns(self.vectors, recs, F, details)
        if "gps" in on and self.geo.n:
            columns.gps_columns(self.geo, recs, F, details)
        if "name" in on:
            n = F.shape[2]
            for b, rec in enumerate(recs):
                F[15, b] = columns.name_scores(self.name_index, rec, toks[b], n)
            F[16], F[17] = columns.date_scores(self.date_arr, self.alive, recs, n)

    def _candidates(self, F: np.ndarray) -> np.ndarray:
        """Candidates, photos x folders: real folders with history, or named/dated like this photo, or
        just created."""
        n = F.shape[2]
        base = self.alive[:n] & (self.raw[:n] > 0)
        for _, f in self.recent:
            base[f] = self.alive[f]
        return base | (self.alive[:n] & ((F[15] > 0) | (F[16] > 0)))

    def p_new(self) -> float:
        return self.new_mass / self.all_mass

    # --- predict / learn --------------------------------------------------------------------------
    def scores(self, rec: PhotoFeatures) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(candidate folder indices, ranking probabilities, calibrated confidences), unsorted."""
        idx, X, _ = self.evidence(rec)
        if idx.size == 0:
            return idx, np.zeros(0), np.zeros(0)
        p = self._softmax(X) * (1.0 - self.p_new())
        return idx, p, self.calibrator(p)

    def _softmax(self, X: np.ndarray) -> np.ndarray:
        z = X @ self.weights
        z -= z.max()
        p = np.exp(z)
        return p / p.sum()

    def predict(self, rec: PhotoFeatures, k: int = 3, explain: bool = True) -> list[Suggestion]:
        """The top-k folders for a photo, best first; [] when nothing real can be suggested."""
        return self.predict_many([rec], k, explain, [self.evidence(rec)])[0]

    def predict_many(self, recs: list[PhotoFeatures], k: int = 3, explain: bool = True,
                     evidence: list[Evidence] | None = None) -> list[list[Suggestion]]:
        """predict() for a page of photos (predict is a page of one): the cards with as many candidates
        rank together, in one softmax and one partition over their rows, and their confidences come
        from one call of the calibrator; each row is computed as it would be alone."""
        evidence = self.evidence_many(recs) if evidence is None else evidence
        if len(evidence) != len(recs):
            raise ValueError("one evidence per photo")
        out: list[list[Suggestion]] = [[] for _ in recs]
        if k <= 0:
            return out
        groups: dict[int, list[int]] = {}
        for b, ev in enumerate(evidence):
            if ev.candidates.size:
                groups.setdefault(ev.candidates.size, []).append(b)
        scale = 1.0 - self.p_new()
        for size, rows in groups.items():
            P = np.empty((len(rows), size))
            for i, b in enumerate(rows):
                np.matmul(evidence[b].X, self.weights, out=P[i])
            P -= P.max(axis=1, keepdims=True)
            np.exp(P, out=P)
            P /= P.sum(axis=1, keepdims=True)
            P *= scale
            kk = min(k, size)
            if size > kk:
                order = np.argpartition(-P, kk - 1, axis=1)[:, :kk]
            else:
                order = np.broadcast_to(np.arange(size), (len(rows), size))
            top = np.take_along_axis(P, order, axis=1)
            by = np.argsort(-top, axis=1, kind="stable")
            order, top = np.take_along_axis(order, by, axis=1), np.take_along_axis(top, by, axis=1)
            conf = self.calibrator(top).tolist()  # elementwise: only the folders shown
            if explain:
                shares = reasons.ranked_shares(
                    self.weights, np.stack([evidence[b].X[order[i]] for i, b in enumerate(rows)]),
                    np.stack([reasons.column_totals(evidence[b]) for b in rows]), size)
            for i, b in enumerate(rows):
                js = order[i].tolist()
                fs = evidence[b].candidates[js].tolist()
                if explain:
                    why = [reasons.explain(self, recs[b], evidence[b], f, j, ranked=r)
                           for f, j, r in zip(fs, js, shares[i], strict=True)]
                else:
                    why = [""] * len(js)
                out[b] = [Suggestion(self.folders[f], c, w) for f, c, w in zip(fs, conf[i], why, strict=True)]
        return out

    def learn(self, rec: PhotoFeatures, folder: str, corrected: bool | None = None, weight: float = 1.0,
              update_weights: bool = True) -> None:
        """Learn that `rec` was filed in `folder`. `corrected`: the user chose another folder than our
        first suggestion (a fix), which counts `correction_weight` times; None works it out.
        `update_weights=False` skips the combiner's step (and the prediction it needs): bulk rebuilds
        use it for all but their latest decisions."""
        folder = normalise_folder(folder)
        if not folder:
            return  # the library root is not a folder one files into
        f = self.index.get(folder)
        if update_weights:
            idx, X, _ = self.evidence(rec)
            if idx.size:
                p = self._softmax(X)
                top = int(np.argmax(p))
                hit = f is not None and int(idx[top]) == f
                self.calibrator.update(float(p[top]) * (1.0 - self.p_new()), hit)
                if corrected is None:
                    corrected = not hit
                where = np.nonzero(idx == f)[0] if f is not None else ()
                if len(where) and idx.size > 1:
                    grad = X[where[0]] - p @ X
                    self.adagrad += grad * grad
                    self.weights += self.learning_rate * grad / np.sqrt(self.adagrad) * self.trainable
        is_new = f is None or self.raw[f] == 0
        decay = 0.5 ** (1.0 / 300.0)  # the new-folder rate follows the last few hundred decisions
        self.new_mass = self.new_mass * decay + (1.0 if is_new else 0.0)
        self.all_mass = self.all_mass * decay + 1.0
        if f is None:
            f = self._folder(folder)
        w = weight * (self.correction_weight if corrected else 1.0)
        self._add(rec, f, self.inc * w, self.serial)
        self.learned[rec.id] = (self.serial, f, self.inc * w, rec, self.step)
        if len(self.learned) > 2000:
            self.learned.popitem(last=False)
        self.serial += 1
        self.recent.append((self.step, f))
        del self.recent[:-_RECENT]
        self.step += 1
        self.inc *= 2.0 ** (1.0 / self.half_life)
        if self.inc > 1e12:
            self._rescale()
        self.drop_caches()

    def _add(self, rec: PhotoFeatures, f: int, inc: float, serial: int, sign: float = 1.0) -> None:
        self.count[f] = max(0.0, self.count[f] + sign * inc)
        self.raw[f] = max(0.0, self.raw[f] + sign)
        for group, toks in self.tokens(rec).items():
            self.tables[group].add(toks, f, sign * inc, sign)
        if sign > 0:
            if rec.ts is not None:
                self.times.add(rec.ts, f, serial)
            if self.vectors.accepts(rec.embedding):
                self.vectors.add(rec.embedding, f, serial, inc)
            if rec.gps is not None:
                self.geo.add(rec.gps, f, serial)
        else:
            self.times.remove(serial)
            self.vectors.remove(serial, rec.embedding, f, inc)
            self.geo.remove(serial)

    def note_skip(self, rec: PhotoFeatures | None = None) -> None:
        """The user skipped a photo: none of the suggestions was taken. Counted as half a decision for
        a folder we do not know (and, given the photo, half a miss at its first suggestion's
        confidence), which lowers the confidence shown, never the ranking."""
        if rec is not None:
            idx, p, _ = self.scores(rec)
            if idx.size:
                self.calibrator.update(float(p.max()), False, weight=0.5)
        decay = 0.5 ** (0.5 / 300.0)
        self.new_mass = self.new_mass * decay + 0.5
        self.all_mass = self.all_mass * decay + 0.5

    def forget(self, photo_id: str) -> bool:
        """Undo the learning of one of the latest 2000 decisions (the user undid the filing)."""
        item = self.learned.pop(str(photo_id), None)
        if item is None:
            return False
        serial, f, inc, rec, step = item
        self._add(rec, f, inc, serial, sign=-1.0)
        self.recent = [r for r in self.recent if r != (step, f)]
        self.drop_caches()
        return True

    def _rescale(self) -> None:
        factor = 1.0 / self.inc
        self.count *= factor
        for table in self.tables.values():
            table.scale(factor)
        self.vectors.scale(factor)
        self.learned = OrderedDict((k, (s, f, inc * factor, r, t)) for k, (s, f, inc, r, t) in self.learned.items())
        self.inc = 1.0
