"""Online calibration of the confidence shown with a suggestion.

The combiner's softmax is already trained on log-loss, but it cannot see the photos that go to a
folder it has never heard of, and its fit lags behind drift. So the probability of the first suggestion
is also tracked against what happened: decayed hit rates in ten probability bins, pulled towards the
identity by a few pseudo-decisions per bin (so a young engine says what the softmax says), made
monotone (isotonic), and interpolated. Monotone means the ranking never changes, only the number shown.
"""

from __future__ import annotations

import numpy as np


class Calibrator:
    def __init__(self, bins: int = 10, prior: float = 4.0, half_life: float = 1500.0):
        self.centres = (np.arange(bins) + 0.5) / bins
        self.n = np.zeros(bins)
        self.hits = np.zeros(bins)
        self.prior = prior
        self.decay = 0.5 ** (1.0 / half_life)
        self._acc = None  # the fitted curve, refitted after an update

    def update(self, p: float, hit: bool, weight: float = 1.0) -> None:
        """One first suggestion of probability p was (or was not) where the photo went."""
        b = min(int(p * self.centres.size), self.centres.size - 1)
        self.n *= self.decay**weight
        self.hits *= self.decay**weight
        self.n[b] += weight
        self.hits[b] += weight if hit else 0.0
        self._acc = None

    def __call__(self, p: np.ndarray) -> np.ndarray:
        if self._acc is None:
            w = self.n + self.prior
            self._acc = _isotonic((self.hits + self.prior * self.centres) / w, w)
        return np.clip(np.interp(p, self.centres, self._acc), 0.0, 1.0)


def _isotonic(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Pool adjacent violators: the weighted least-squares non-decreasing fit of y (more raw
    confidence never shows less, and a bin that disagrees is averaged with its neighbours)."""
    blocks = []  # [mean, weight, count]
    for yi, wi in zip(y.tolist(), w.tolist(), strict=True):
        blocks.append([yi, wi, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    return np.concatenate([np.full(c, m) for m, _, c in blocks])
