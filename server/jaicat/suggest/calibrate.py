"""Online calibration of the confidence shown with a suggestion.

The combiner's softmax is already trained on log-loss, but it cannot see the photos that go to a
folder it has never heard of, and its fit lags behind drift. So the probability of the first suggestion
is also tracked against what happened: decayed hit rates in ten probability bins, pulled towards the
identity by a few pseudo-decisions per bin (so a young engine says what the softmax says), made
monotone, and interpolated. Monotone means the ranking never changes, only the number shown.
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

    def update(self, p: float, hit: bool, weight: float = 1.0) -> None:
        """One first suggestion of probability p was (or was not) where the photo went."""
        b = min(int(p * self.centres.size), self.centres.size - 1)
        self.n *= self.decay**weight
        self.hits *= self.decay**weight
        self.n[b] += weight
        self.hits[b] += weight if hit else 0.0

    def __call__(self, p: np.ndarray) -> np.ndarray:
        acc = (self.hits + self.prior * self.centres) / (self.n + self.prior)
        acc = np.maximum.accumulate(acc)  # more raw confidence never shows less
        return np.clip(np.interp(p, self.centres, acc), 0.0, 1.0)
