"""Paired statistics for "A vs B" cells: every comparison is over the same resampled users.

``paired_comparison(a, b)`` takes per-user values of two rows (same users, same order) and
returns the absolute difference ``mean(a) - mean(b)`` and the relative change
``mean(a) / mean(b) - 1`` (a ratio of means), each with a paired bootstrap interval from
``scipy.stats.bootstrap(paired=True)``, plus a paired p-value: exact McNemar on 0/1 hits
(``scipy.stats.binomtest`` on the discordant users), or, where a reader credits ties
(1/k per tied candidate), a paired sign-flip permutation test of the mean difference, which
is McNemar's test on 0/1 hits and weighs a tie credit by its size instead of its sign
(McNemar on tie credits called a -0.016 difference p = 4e-16). No resample is ever dropped: a
resample whose baseline mean is 0 has a relative change of +inf (or 0 when both means are 0).
A relative change whose baseline mean is 0 is *undefined* (value None), not a number.
The verdict needs both tests: "beats" / "worse" when the difference's interval excludes 0
and the paired p < ``alpha``, otherwise "no difference".

>>> c = paired_comparison([1, 1, 1, 0] * 10, [0, 1, 0, 0] * 10, n_boot=200)
>>> c.verdict, round(c.diff.value, 2), c.discordant
('beats', 0.5, (20, 0))
>>> paired_comparison([1, 0], [0, 0], n_boot=0).change.value is None
True
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from toolkit.evaluation import Metric

BEATS, WORSE, SAME = "beats", "worse", "no difference"


@dataclass(frozen=True)
class PairedComparison:
    """Row A against row B on the same ``n`` users."""

    n: int
    diff: Metric
    change: Metric
    """Relative change (ratio of means - 1); ``value`` None when B's mean is 0."""
    p_value: float | None
    discordant: tuple[int, int]
    """(users where A did better, users where B did better)."""
    verdict: str
    test: str = "mcnemar"
    """The paired test behind ``p_value``: "mcnemar" (0/1 hits) or "sign-flip" (tie credits)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "diff": self.diff.to_json(),
            "change": self.change.to_json(),
            "change_defined": self.change.value is not None,
            "p_value": self.p_value,
            "discordant": list(self.discordant),
            "verdict": self.verdict,
            "test": self.test,
        }


def _ratio_change(x: Any, y: Any, axis: int = -1) -> Any:
    """mean(x)/mean(y) - 1 along ``axis``; +inf when mean(y) is 0 < mean(x), 0 when both are 0."""
    import numpy as np

    num, den = np.mean(x, axis=axis), np.mean(y, axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den - 1
    out = np.where(den == 0, np.where(num > 0, np.inf, 0.0), out)
    return out


def _diff(x: Any, y: Any, axis: int = -1) -> Any:
    import numpy as np

    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def bootstrap_interval(
    data: tuple[Any, ...],
    stat: Any,
    *,
    paired: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float | None, float | None]:
    """A bootstrap interval of ``stat`` over ``data`` (``scipy.stats.bootstrap``, BCa; the
    percentile method when BCa is degenerate); (None, None) without resamples or data."""
    import numpy as np
    from scipy.stats import bootstrap

    arrays = [np.asarray(a, dtype=float) for a in data]
    if n_boot <= 0 or len(arrays[0]) < 2:
        return None, None
    if all(np.all(a == a[0]) for a in arrays):
        value = float(stat(*arrays))
        return value, value  # every resample is the sample itself
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = bootstrap(
                tuple(arrays),
                stat,
                paired=paired,
                vectorized=True,
                n_resamples=n_boot,
                confidence_level=level,
                method=method,
                rng=np.random.default_rng(seed),
            )
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if not (math.isnan(lo) or math.isnan(hi)):
            return lo, hi
    return None, None


def _interval(
    stat: Any, x: Any, y: Any, n_boot: int, seed: int, level: float
) -> tuple[float | None, float | None]:
    return bootstrap_interval((x, y), stat, paired=True, n_boot=n_boot, seed=seed, level=level)


def mcnemar_exact(a: Sequence[float], b: Sequence[float]) -> tuple[float | None, tuple[int, int]]:
    """Exact McNemar p-value (two-sided binomial test on the discordant users) for 0/1 hits.
    Returns (p, (users where A did better, users where B did better))."""
    from scipy.stats import binomtest

    better, worse = _discordant(a, b)
    if better + worse == 0:
        return 1.0, (0, 0)
    return float(binomtest(better, better + worse, 0.5).pvalue), (better, worse)


def _discordant(a: Sequence[float], b: Sequence[float]) -> tuple[int, int]:
    better = sum(1 for x, y in zip(a, b, strict=True) if x > y)
    worse = sum(1 for x, y in zip(a, b, strict=True) if x < y)
    return better, worse


def sign_flip_p(
    a: Sequence[float], b: Sequence[float], *, n_resamples: int = 9999, seed: int = 0
) -> float:
    """Two-sided paired sign-flip permutation p-value of ``mean(a - b)``
    (``scipy.stats.permutation_test``, ``permutation_type="samples"``: each user's two
    values are swapped or not). On 0/1 hits it is McNemar's test by Monte Carlo; on
    tie-credited hits (1/k) it weighs each user by the size of the difference, where
    McNemar would count a 0.1 credit against a 0 as a whole win."""
    import numpy as np
    from scipy.stats import permutation_test

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not np.any(x != y):
        return 1.0
    res = permutation_test(
        (x, y),
        _diff,
        permutation_type="samples",
        vectorized=True,
        n_resamples=n_resamples,
        alternative="two-sided",
        rng=np.random.default_rng(seed),
    )
    return float(res.pvalue)


def paired_test(
    a: Sequence[float], b: Sequence[float], *, seed: int = 0
) -> tuple[float | None, tuple[int, int], str]:
    """The paired test of a comparison: exact McNemar when every value is a 0/1 hit, else
    the paired sign-flip test (fractional tie credits). Returns (p, discordant, test name)."""
    values = set(a) | set(b)
    if values <= {0, 1}:
        p, discordant = mcnemar_exact(a, b)
        return p, discordant, "mcnemar"
    return sign_flip_p(a, b, seed=seed), _discordant(a, b), "sign-flip"


def paired_comparison(
    a: Sequence[float],
    b: Sequence[float],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    alpha: float = 0.05,
) -> PairedComparison:
    """Row A vs row B on per-user values (same users, same order); see the module doc."""
    import numpy as np

    if len(a) != len(b):
        raise ValueError(f"paired values differ in length: {len(a)} vs {len(b)}")
    n = len(a)
    if n == 0:
        return PairedComparison(0, Metric(None), Metric(None), None, (0, 0), SAME)
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = Metric(float(_diff(x, y)), *_interval(_diff, x, y, n_boot, seed, level), n)
    if float(y.mean()) == 0:
        change = Metric(None, n=n)
    else:
        value = float(_ratio_change(x, y))
        change = Metric(value, *_interval(_ratio_change, x, y, n_boot, seed, level), n)
    p, discordant, test = paired_test(a, b, seed=seed)
    verdict = SAME
    if p is not None and p < alpha and diff.lo is not None and diff.hi is not None:
        if diff.lo > 0:
            verdict = BEATS
        elif diff.hi < 0:
            verdict = WORSE
    return PairedComparison(n, diff, change, p, discordant, verdict, test)
