"""Prequential evaluation of the engine on a decision history (the public `jaicat suggest eval` format).

A history is JSON Lines, one decision per line, in the order the decisions were made:
  {"id": str, "taken_at": ISO-8601|null, "tags": {tag: score}, "people": [names], "caption": str|null,
   "camera": str|null, "gps": [lat, lon]|null, "embedding": [floats]|null, "folder": "relative/path"}
For each record in order the engine first predicts from what it has learned so far, then learns the true
folder. A record whose folder was never seen before is a miss (and counts in `new_folders`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from ..errors import InvalidInput
from .autofile import AutoFileRule
from .engine import SuggestEngine
from .features import PhotoFeatures, parse_record


def read_history(path: str | Path) -> Iterator[tuple[int, PhotoFeatures, str]]:
    """Yield (line number, features, folder); blank lines are skipped, a bad line raises InvalidInput
    naming its line number."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"history file not found: {path}")
    with path.open("r", encoding="utf-8", errors="strict") as fh:
        lineno = 0
        while True:
            try:
                line = fh.readline()
            except UnicodeDecodeError as e:
                raise InvalidInput(f"{path}:{lineno + 1}: not UTF-8 text ({e.reason})") from None
            if not line:
                return
            lineno += 1
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise InvalidInput(f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
            rec, folder = parse_record(obj, f"{path}:{lineno}")
            if not folder:
                raise InvalidInput(f"{path}:{lineno}: \"folder\" must be a non-empty folder path")
            yield lineno, rec, folder


@dataclass
class EvalResult:
    k: int
    n: int = 0
    new_folders: int = 0
    rank: list = field(default_factory=list)  # rank of the true folder (0 = first), -1 if not in top-k
    confidence: list = field(default_factory=list)  # score of the first suggestion (0 if none)
    latency: list = field(default_factory=list)  # wall seconds per prediction
    cpu: list = field(default_factory=list)  # this thread's CPU seconds per prediction
    auto_rule: AutoFileRule | None = None  # with --auto-file: the online rule, replayed
    auto_filed: int = 0  # records the rule filed by itself
    auto_wrong: int = 0  # of those, the ones whose recorded folder was another one

    def top(self, j: int, skip: int = 0) -> float:
        """Share of records (after the first `skip`) whose true folder was within the first j."""
        r = np.asarray(self.rank[skip:])
        return float(((r >= 0) & (r < j)).mean()) if r.size else 0.0

    def summary(self) -> str:
        """The last line of `jaicat suggest eval`: `top1=0.873 top3=0.951 n=1200 new_folders=37`."""
        line = f"top1={self.top(1):.3f} top3={self.top(3):.3f} n={self.n} new_folders={self.new_folders}"
        if self.auto_rule is not None:
            f, w = self.auto_rates()
            line += f" auto_filed={f:.3f} auto_wrong={w:.3f}"
        return line

    def auto_rates(self) -> tuple[float, float]:
        """(share of all records filed automatically, share of those that went to another folder)."""
        return (self.auto_filed / self.n if self.n else 0.0,
                self.auto_wrong / self.auto_filed if self.auto_filed else 0.0)

    def latency_ms(self, q: float, cpu: bool = False) -> float:
        """q-th percentile of the time per prediction in ms: wall clock, or CPU time of the thread
        (what the engine costs, without the waits of a busy machine)."""
        xs = self.cpu if cpu else self.latency
        return float(np.percentile(np.asarray(xs) * 1000.0, q)) if xs else 0.0

    def calibration_error(self, skip: int = 0, bins: int = 10) -> float:
        """Expected calibration error of the first suggestion's confidence against top-1 correctness."""
        conf = np.asarray(self.confidence[skip:])
        hit = np.asarray(self.rank[skip:]) == 0
        if conf.size == 0:
            return 0.0
        which = np.minimum((conf * bins).astype(int), bins - 1)
        err = 0.0
        for b in range(bins):
            sel = which == b
            if sel.any():
                err += sel.sum() * abs(conf[sel].mean() - hit[sel].mean())
        return float(err / conf.size)


def evaluate(
    records: Iterable[tuple[int, PhotoFeatures, str]],
    k: int = 3,
    engine: SuggestEngine | None = None,
    progress: Callable[[int], None] | None = None,
    explain: bool = False,
    auto_file: float | None = None,
) -> EvalResult:
    """Replay `records` prequentially through `engine` (a fresh full engine by default).

    Predictions ask for max(k, 3) folders so top1 and top3 are always measured. With `auto_file` (a
    target error rate) the online auto-filing rule (autofile.py) is replayed too: before each record it
    decides from the outcomes so far whether the first choice would have been filed without asking; the
    recorded folder then says whether that was right (a wrong one is the user's correction).
    """
    engine = engine or SuggestEngine()
    res = EvalResult(k=k, auto_rule=AutoFileRule(auto_file) if auto_file is not None else None)
    want = max(k, 3)
    for _, rec, folder in records:
        t0, c0 = time.perf_counter(), time.thread_time()
        sugg = engine.predict(rec, want, explain=explain)
        res.latency.append(time.perf_counter() - t0)
        res.cpu.append(time.thread_time() - c0)
        names = [s.folder for s in sugg]
        if engine.index.get(folder) is None or engine.raw[engine.index[folder]] == 0:
            res.new_folders += 1
        res.rank.append(names.index(folder) if folder in names else -1)
        res.confidence.append(sugg[0].score if sugg else 0.0)
        if res.auto_rule is not None and sugg:
            qualified = res.auto_rule.qualifies(sugg[0].score)
            if qualified and not res.auto_rule.paused:
                res.auto_filed += 1
                res.auto_wrong += names[0] != folder
            res.auto_rule.record(sugg[0].score, names[0] == folder, qualified=qualified)
        engine.learn(rec, folder, corrected=not names or names[0] != folder)
        res.n += 1
        if progress is not None:
            progress(res.n)
    return res
