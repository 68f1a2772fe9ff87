"""When the suggester may file a photo itself: an online rule learned from the household's own decisions.

The engine's first choice comes with a calibrated confidence. Every decision whose outcome is known (the
user took the first choice or went elsewhere; an auto-filing confirmed or corrected) is counted in one of
BINS confidence bins. The threshold is the lowest bin edge such that the decisions at or above it went
wrong at a rate whose small-sample upper bound (Wilson, z = UPPER_Z) is within the target: only what was
observed before the photo counts, never hindsight. Below MIN_DECISIONS observed decisions above a
threshold there is no threshold (a fresh install files nothing by itself).

Auto-filing pauses by itself while the last WINDOW filings that qualified were corrected clearly more
often than the target (the lower bound of their error rate, z = PAUSE_Z, is above it). While paused, the
photos that would have qualified go to the user, and their outcomes keep filling the window, so it
resumes once the household agrees with the engine again.

`jaicat suggest eval --auto-file` and the server use this one class.
"""

from __future__ import annotations

import math
from collections import deque

BINS = 50
MIN_DECISIONS = 30
UPPER_Z = 0.5  # a mild upper bound: with a few hundred decisions above it, the threshold is the observed rate's
WINDOW = 50
PAUSE_Z = 2.33  # pause only when the recent filings are clearly worse than the target (99% one-sided)
MIN_WINDOW = 5


def wilson(wrong: float, n: float, z: float) -> tuple[float, float]:
    """(lower, upper) Wilson score bounds of an error rate observed as `wrong` out of `n`."""
    if n <= 0:
        return 0.0, 1.0
    p = wrong / n
    den = 1.0 + z * z / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(max(p * (1 - p) / n + z * z / (4 * n * n), 0.0))
    return max(0.0, (centre - half) / den), min(1.0, (centre + half) / den)


class AutoFileRule:
    """The online auto-filing rule for one target error rate (e.g. 0.05)."""

    def __init__(self, target: float):
        if not 0.0 < target < 1.0:
            raise ValueError(f"auto-file target must be between 0 and 1, not {target}")
        self.target = float(target)
        self.n = [0] * BINS  # decisions seen, by the confidence of the engine's first choice
        self.wrong = [0] * BINS  # of those, the ones that went elsewhere
        self.recent: deque[int] = deque(maxlen=WINDOW)  # 1 = a qualifying filing that was corrected
        self._threshold: float | None = None
        self._stale = True

    @staticmethod
    def _bin(confidence: float) -> int:
        return min(max(int(confidence * BINS), 0), BINS - 1)

    @property
    def threshold(self) -> float | None:
        """The lowest confidence that may file by itself now (None: not enough evidence yet)."""
        if self._stale:
            self._threshold, n, w = None, 0, 0
            for b in range(BINS - 1, -1, -1):
                n, w = n + self.n[b], w + self.wrong[b]
                # only where something was observed: an empty bin below says nothing of its confidences
                if self.n[b] and n >= MIN_DECISIONS and wilson(w, n, UPPER_Z)[1] <= self.target:
                    self._threshold = b / BINS
            self._stale = False
        return self._threshold

    @property
    def paused(self) -> bool:
        """Recent qualifying filings were corrected clearly more often than the target."""
        return len(self.recent) >= MIN_WINDOW and \
            wilson(sum(self.recent), len(self.recent), PAUSE_Z)[0] > self.target

    def qualifies(self, confidence: float) -> bool:
        """The confidence is at or above the threshold (whether or not auto-filing is paused)."""
        t = self.threshold
        return t is not None and confidence > 0 and self._bin(confidence) >= round(t * BINS)

    def should_file(self, confidence: float) -> bool:
        """File this photo in the engine's first choice without asking."""
        return self.qualifies(confidence) and not self.paused

    def record(self, confidence: float, right: bool, qualified: bool | None = None) -> None:
        """One first choice of this `confidence` was (`right`) or was not where the photo went.
        `qualified`: it passed the threshold when it was decided (default: it would now); those
        outcomes feed the pause window."""
        if confidence <= 0:
            return  # no first choice: says nothing about the threshold
        b = self._bin(confidence)
        if qualified is None:
            qualified = self.qualifies(confidence)
        self.n[b] += 1
        self.wrong[b] += 0 if right else 1
        if qualified:
            self.recent.append(0 if right else 1)
        self._stale = True

    def amend(self, confidence: float) -> None:
        """A qualifying filing recorded right (kept) was corrected after all: it counts as wrong."""
        if confidence <= 0:
            return
        b = self._bin(confidence)
        self.wrong[b] = min(self.n[b], self.wrong[b] + 1)
        for i in range(len(self.recent) - 1, -1, -1):  # the latest kept one in the window
            if self.recent[i] == 0:
                self.recent[i] = 1
                break
        self._stale = True

    def state(self) -> dict:
        """A JSON-able summary (also what is saved): threshold, paused, counts."""
        return {"target": self.target, "threshold": self.threshold, "paused": self.paused,
                "n": list(self.n), "wrong": list(self.wrong), "recent": list(self.recent)}

    @classmethod
    def from_state(cls, target: float, state: dict | None) -> AutoFileRule:
        """A rule for `target` resuming saved counts (a changed target keeps what was observed)."""
        rule = cls(target)
        if state and len(state.get("n", [])) == BINS and len(state.get("wrong", [])) == BINS:
            rule.n = [int(x) for x in state["n"]]
            rule.wrong = [int(x) for x in state["wrong"]]
            rule.recent.extend(int(x) for x in state.get("recent", [])[-WINDOW:])
        return rule
