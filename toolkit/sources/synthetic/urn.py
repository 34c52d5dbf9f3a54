"""Weighted draws of catalog indices, the one sampler the generator uses."""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable, Sequence


class Urn:
    """Weighted draws of item indices (all, or ``idx``); exclusions by rejection, then
    exactly, so a draw stays cheap until the user has touched most of the mass."""

    __slots__ = ("cum", "idx", "weights")

    def __init__(self, weights: Sequence[float], idx: list[int] | None = None):
        self.idx = list(range(len(weights))) if idx is None else idx
        self.weights = list(weights) if idx is None else [weights[i] for i in idx]
        self.cum = list(itertools.accumulate(self.weights))

    def draw(self, rng: random.Random, ok: Callable[[int], bool] | None = None) -> int | None:
        """One index, or None when the urn is empty or nothing passes ``ok``."""
        if not self.idx or self.cum[-1] <= 0:
            return None
        total, last = self.cum[-1], len(self.idx) - 1
        for _ in range(1 if ok is None else 48):
            i = self.idx[min(bisect.bisect_right(self.cum, rng.random() * total), last)]
            if ok is None or ok(i):
                return i
        allowed = [(i, w) for i, w in zip(self.idx, self.weights, strict=True) if ok(i)]
        if not allowed:
            return None
        return rng.choices([i for i, _ in allowed], [w for _, w in allowed])[0]

    def pick(self, rng: random.Random) -> int:
        """One index from an urn known to be non-empty (every title has weight > 0)."""
        found = self.draw(rng)
        if found is None:
            raise ValueError("empty urn")
        return found
