"""One-line human reasons: which signal did most to put a folder first, said with the evidence behind it.

A signal's share is its weighted feature for the folder minus the average over the other candidates,
so the reason names what set this folder apart, not what every folder has in common.
The engine hands over its Evidence for the photo (features.py); the rest is read from the engine's
public tables (folders, counts, token tables, recent decisions).
"""

from __future__ import annotations

import re

import numpy as np

from .features import FEATURES, SIGNALS, Evidence, PhotoFeatures, singular

GROUP_COLS = {g: [i for i, (_, group, _) in enumerate(FEATURES) if group == g] for g in SIGNALS}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _gap(seconds: float) -> str:
    s = abs(seconds)
    if s < 90:
        return "within a minute"
    if s < 5400:
        return f"{round(s / 60)} minutes"
    if s < 2 * 86400:
        return f"{round(s / 3600)} hours"
    return f"{round(s / 86400)} days"


_STARTS = [cols[0] for cols in GROUP_COLS.values()]  # a signal's columns are adjacent in FEATURES
_FACTORS = np.array([0.5 if g in ("prior", "recent") else 1.0 for g in GROUP_COLS])


def column_totals(evidence: Evidence) -> np.ndarray:
    """The sums of each feature column over the evidence's candidates (the engine hands them over)."""
    totals = evidence.detail.get("totals")
    return evidence.X.sum(axis=0) if totals is None else totals


def ranked_shares(weights: np.ndarray, rows: np.ndarray, totals: np.ndarray, n: int) -> list[list[list]]:
    """Each signal's share for some candidates of several photos with n candidates each: `rows`
    (photos x positions x features) are the candidates' feature rows, `totals` (photos x features) the
    column sums over all n. Returns [(share, group)] per photo per position, largest first. Each
    photo's shares are computed as they would be alone."""
    weighted = rows * weights
    if n > 1:
        others = (totals * weights)[:, None, :] - weighted
        others /= n - 1
    else:
        others = np.zeros_like(weighted)
    # folder size and recency are the reasons of last resort: they say little about this photo
    shares = np.add.reduceat(weighted - others, _STARTS, axis=2) * _FACTORS
    return [[sorted(zip(s, GROUP_COLS, strict=True), reverse=True) for s in photo] for photo in shares.tolist()]


class Shares:
    """Each signal's share for the candidates of one photo's evidence, for its suggestions:
    [(share, group)] per candidate position, largest first."""

    def __init__(self, weights: np.ndarray, evidence: Evidence):
        self.weights, self.X, self.totals, self.n = weights, evidence.X, column_totals(evidence), evidence.candidates.size

    def rows(self, js: list[int]) -> list[list[tuple[float, str]]]:
        """[(share, group)] for each candidate position in `js`, largest first."""
        return ranked_shares(self.weights, self.X[js][None], self.totals[None], self.n)[0]

    def __call__(self, j: int) -> list[tuple[float, str]]:
        return self.rows([j])[0]


def contributions(weights: np.ndarray, evidence: Evidence, j: int) -> list[tuple[float, str]]:
    """[(share, group)] for candidate position j, largest first."""
    return Shares(weights, evidence)(j)


def explain(engine, rec: PhotoFeatures, evidence: Evidence, f: int, j: int, shares: Shares | None = None,
            ranked: list | None = None) -> str:
    """Why folder `f` (candidate position `j` of `evidence`) suits the photo, in one line. `shares`:
    the evidence's Shares when several of its folders are explained; `ranked`: what it says for j."""
    parts = []
    shares = ranked if ranked is not None else (shares or Shares(engine.weights, evidence))(j)
    for rank, (share, group) in enumerate(shares):
        if share <= 0 or (rank > 0 and share < 0.5 * shares[0][0]):
            break
        text = _say(engine, rec, evidence.detail, f, group)
        if text and text not in parts:
            parts.append(text)
        if len(parts) == 2:
            break
    folder = engine.folders[f]
    if not parts:
        n = int(engine.raw[f])
        return f"{_plural(n, 'earlier photo')} went to {folder}" if n else f"{folder} is a folder you have"
    return "; ".join(parts)


def _tokens_text(engine, rec, f: int, group: str, toks: dict) -> str | None:
    table = engine.tables[group]
    best = []
    for t, w in toks.items():
        row = table.rows.get(t)
        if row is None:
            continue
        raw = row.raw_for(f)
        if raw >= 1:
            best.append((w * raw / (row.raw_total + 1.0), int(raw), t))
    if not best:
        return None
    best.sort(reverse=True)
    shown = []
    for _, n, t in best[:2]:
        if group == "people":
            label = next((p for p, i in zip(rec.people, rec.person_ids, strict=False) if f"#{i}" == t), None) \
                or next((p for p in rec.people if p.lower() == t), t)
        elif group == "meta":
            label = _meta_label(t)
        elif group == "date":
            label = "from " + t.split(":", 1)[1]
        else:
            label = f"'{t}'"
        shown.append((n, label))
    folder = engine.folders[f]
    (n1, l1) = shown[0]
    if len(shown) == 1:
        return f"{_plural(n1, 'earlier photo')} {_with(l1)} went to {folder}"
    (n2, l2) = shown[1]
    if n1 == n2:
        return f"{_plural(n1, 'earlier photo')} {_with(l1)} and {l2} went to {folder}"
    return f"{_plural(n1, 'earlier photo')} {_with(l1)} and {n2} {_with(l2)} went to {folder}"


def _with(label: str) -> str:
    return label if label.startswith(("from ", "taken ", "without ", "with ")) else "with " + label


def _meta_label(t: str) -> str:
    key, _, val = t.partition(":")
    if key == "cam":
        return "without camera data" if val == "none" else f"taken with {val}"
    if key == "gps":
        return "without GPS" if val == "none" else "with GPS"
    if key == "ppl":
        return "without people" if val == "0" else f"with {val} people"
    if key == "time":
        return "without a capture date"
    if key == "hour":
        return f"taken between {int(val) * 4}:00 and {int(val) * 4 + 4}:00"
    return f"taken on a {t}"


def _matched(folder: str, rec: PhotoFeatures) -> str:
    """What of the photo a folder's name matched: a person's name, a tag, its caption. Said as what
    the catalogue holds, never as what is "in the photo" (no image model may have run)."""
    words = {singular(w) for w in re.findall(r"\w+", folder.casefold())}
    person = next((p for p in rec.people if any(singular(w) in words for w in re.findall(r"\w+", p.casefold()))), None)
    if person:
        return f"{person}'s name"
    tag = next((t for t in rec.tags if any(singular(w) in words for w in re.findall(r"\w+", t.casefold()))), None)
    if tag:
        return f"its tag '{tag}'"
    return "words of its caption" if rec.caption else "this photo's words"


def _say(engine, rec: PhotoFeatures, detail: dict, f: int, group: str) -> str | None:
    folder = engine.folders[f]
    if group in ("tags", "people", "words", "meta", "date"):
        return _tokens_text(engine, rec, f, group, detail["tokens"][group])
    if group == "time" and "time" in detail:
        dts, fs = detail["time"]
        mine = dts[fs == f]
        if mine.size:
            n = int((mine <= max(3600.0, float(mine.min()) * 2)).sum())
            return f"taken {_gap(float(mine.min()))} from {_plural(n, 'photo')} in {folder}"
    if group == "embedding" and "embedding" in detail:
        sims, fs = detail["embedding"]
        n = int((fs == f).sum())
        if n:
            return f"looks like {_plural(n, 'photo')} in {folder}"
        return f"looks like the photos in {folder}"
    if group == "gps" and "gps" in detail:
        d, fs = detail["gps"]
        mine = d[fs == f]
        if mine.size:
            km = float(mine.min())
            where = f"{round(km * 1000)} m" if km < 1 else f"{km:.0f} km"
            return f"taken within {where} of {_plural(int(mine.size), 'photo')} in {folder}"
    if group == "name":
        fd = engine.dates[f]
        if fd is not None and rec.local is not None and fd[0] == rec.local[0]:
            return f"the folder name {folder} matches the date taken"
        return f"the folder name {folder} matches {_matched(folder, rec)}"
    if group == "recent":
        n = 0
        for _, g in reversed(engine.recent):
            if g != f:
                break
            n += 1
        if n and engine.raw[f] > 0:
            return f"your last {_plural(n, 'photo')} went to {folder}" if n > 1 else f"your last photo went to {folder}"
        if engine.raw[f] == 0:
            return f"you just created {folder}"
        return f"you filed photos in {folder} recently"
    if group == "prior" and engine.raw[f] > 0:
        return f"{folder} is one of your most used folders ({int(engine.raw[f])} photos)"
    return None
