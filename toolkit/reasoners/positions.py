"""Position-bias control: shuffle candidates per question, log where the picks land.

A reasoner that prefers a slot (small LLMs pick the first-listed candidate) looks better or
worse than it is, depending on where the target happens to sit. So a question's candidates
are shown in a seeded, per-question order (``shuffled_order`` + ``present``), scores are
mapped back to the example's order (``unshuffle_scores``), and ``PositionStats`` counts the
shown position of every pick. Its summary (share per position, entropy, chi-square test
against uniform) goes into the report; a reasoner whose picks pile up on one slot is
``flagged``.

>>> order = shuffled_order(4, seed=0, sample_key="example-1")
>>> sorted(order)
[0, 1, 2, 3]
>>> unshuffle_scores([s * 10 for s in order], order)
[0, 10, 20, 30]
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterable, Sequence
from typing import Any

from toolkit.reasoners.base import Answer, ReasonerInput


def shuffled_order(n: int, seed: int, sample_key: str) -> list[int]:
    """A permutation of ``range(n)`` fixed by ``(seed, sample_key)``: ``order[i]`` is the
    original index of the candidate shown at position ``i``. Stable across processes and
    Python versions (a SHA-256 of the key seeds the shuffle, not the salted ``hash``)."""
    digest = hashlib.sha256(f"{seed}\0{sample_key}".encode()).digest()
    order = list(range(n))
    random.Random(int.from_bytes(digest[:8], "big")).shuffle(order)
    return order


def _check_order(order: Sequence[int], n: int) -> None:
    if len(order) != n or sorted(order) != list(range(n)):
        raise ValueError(f"order {list(order)} is not a permutation of range({n})")


def present(inp: ReasonerInput, order: Sequence[int]) -> ReasonerInput:
    """The question with its candidates in the order to show: position i gets
    ``inp.candidates[order[i]]``."""
    _check_order(order, len(inp.candidates))
    return ReasonerInput(inp.context, tuple(inp.candidates[i] for i in order), None)


def unshuffle_scores(scores: Sequence[float], order: Sequence[int]) -> list[float]:
    """Scores read in shown order, put back in the original candidate order."""
    _check_order(order, len(scores))
    out = [0.0] * len(scores)
    for shown, original in enumerate(order):
        out[original] = scores[shown]
    return out


def best_shown_first(scores: Sequence[float], order: Sequence[int]) -> int:
    """The arg-max of ``scores``; among tied best scores, the candidate shown first.

    >>> best_shown_first([0.5, 0.9, 0.9], order=[2, 0, 1])
    2
    """
    best = max(scores)
    for original in order:
        if scores[original] == best:
            return original
    raise ValueError("order does not cover the scores")


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for a chi-square variable with integer ``df`` (closed form, no scipy).

    >>> round(chi2_sf(3.841459, 1), 4), round(chi2_sf(9.21034, 2), 4)
    (0.05, 0.01)
    >>> round(chi2_sf(27.877, 9), 4)
    0.001
    """
    if df < 1:
        raise ValueError("df must be >= 1")
    if x <= 0:
        return 1.0
    y = x / 2
    if df % 2 == 0:
        total = sum(math.exp(-y + i * math.log(y) - math.lgamma(i + 1)) for i in range(df // 2))
    else:
        total = math.erfc(math.sqrt(y)) + sum(
            math.exp(-y + (i - 0.5) * math.log(y) - math.lgamma(i + 0.5))
            for i in range(1, (df - 1) // 2 + 1)
        )
    return min(1.0, max(0.0, total))


class PositionStats:
    """Counts the shown position of each pick over many answers.

    Questions may differ in their number of candidates: the uniform expectation of a
    position is the sum of ``1/n`` over the questions that had it. ``flagged`` when, over
    at least ``min_samples`` valid picks, one position takes more than ``max_share`` of
    them, or when a chi-square test rejects uniform at ``p < alpha`` (only once every
    position expects at least 5 picks, the test's usual validity rule).
    """

    def __init__(self, max_share: float = 0.5, alpha: float = 1e-3, min_samples: int = 20):
        self.max_share = max_share
        self.alpha = alpha
        self.min_samples = min_samples
        self.counts: list[int] = []
        self.expected: list[float] = []
        self.invalid = 0

    def add(self, position: int | None, n: int) -> None:
        """One answer: the shown position of its pick (None for an invalid answer) among
        ``n`` shown candidates."""
        if n < 1:
            raise ValueError("a question needs at least one candidate")
        if position is None:
            self.invalid += 1
            return
        if not 0 <= position < n:
            raise ValueError(f"position {position} is outside 0..{n - 1}")
        if len(self.counts) < n:
            self.counts += [0] * (n - len(self.counts))
            self.expected += [0.0] * (n - len(self.expected))
        for p in range(n):
            self.expected[p] += 1.0 / n
        self.counts[position] += 1

    def add_answer(self, answer: Answer) -> None:
        """Read the shown position from ``meta['shown_position']`` (else the pick)."""
        position = answer.meta.get("shown_position", answer.pick)
        self.add(None if answer.pick is None else position, len(answer.scores))

    def extend(self, answers: Iterable[Answer]) -> None:
        for answer in answers:
            self.add_answer(answer)

    @property
    def total(self) -> int:
        return sum(self.counts)

    def chi2(self) -> tuple[float, float] | None:
        """(statistic, p-value) against uniform, or None when no position set is testable."""
        cells = [(c, e) for c, e in zip(self.counts, self.expected, strict=True) if e > 1e-12]
        if len(cells) < 2:
            return None
        stat = sum((c - e) ** 2 / e for c, e in cells)
        return stat, chi2_sf(stat, len(cells) - 1)

    def summary(self) -> dict[str, Any]:
        """What the report shows: counts, shares, max share, entropy (bits and as a
        fraction of the uniform maximum), chi-square, and whether/why it is flagged."""
        total = self.total
        shares = [c / total if total else 0.0 for c in self.counts]
        entropy = -sum(s * math.log2(s) for s in shares if s > 0)
        k = len(self.counts)
        max_position = max(range(k), key=shares.__getitem__) if k else None
        max_share = shares[max_position] if max_position is not None else 0.0
        test = self.chi2()
        reasons = []
        if total >= self.min_samples:
            if max_share > self.max_share:
                reasons.append(f"position {max_position} takes {max_share:.0%} of picks")
            testable = all(e >= 5 for e in self.expected if e > 1e-12)
            if test is not None and testable and test[1] < self.alpha:
                reasons.append(f"chi-square rejects uniform positions (p={test[1]:.2g})")
        return {
            "n": total,
            "invalid": self.invalid,
            "counts": list(self.counts),
            "shares": shares,
            "max_position": max_position,
            "max_share": max_share,
            "entropy_bits": entropy,
            "entropy_ratio": entropy / math.log2(k) if k > 1 and total else 0.0,
            "chi2": None if test is None else test[0],
            "p_value": None if test is None else test[1],
            "flagged": bool(reasons),
            "reasons": reasons,
        }

    @property
    def flagged(self) -> bool:
        return bool(self.summary()["flagged"])


CALIBRATIONS = ("none", "batch")


def batch_calibrate(answers: Sequence[Answer]) -> list[Answer]:
    """Batch calibration of an LLM reader's label log-probs (Zhou et al., 2024): divide
    each shown slot's probability by its mean over all answers and shifts, then pick.

    Candidate orders are random per question, so a slot's mean probability over many
    questions estimates the reader's preference for the slot itself, not for what sits
    there; dividing it out removes that preference at no extra forward pass. It reads no
    target. Answers need the LLM reader's ``meta`` (``order``, ``shifts``,
    ``shift_scores``); questions are calibrated together per number of candidates. A
    calibrated answer keeps its previous scores and pick in ``meta["uncalibrated_scores"]``
    and ``meta["uncalibrated_shown_position"]``.

    >>> def shown(p):  # one order [0, 1]: candidate i in slot i, probabilities p
    ...     lp = [math.log(x) for x in p]
    ...     return Answer(0, lp, meta={"order": [0, 1], "shifts": 1, "shift_scores": [lp]})
    >>> [a.pick for a in batch_calibrate([shown([0.6, 0.4]), shown([0.9, 0.1])])]
    [1, 0]

    Both questions favour slot 0 (75% on average); the first favours it less than usual,
    so its pick moves to the candidate in slot 1.
    """
    import dataclasses

    from toolkit.reasoners.llm import cyclic_shifts
    from toolkit.tasks import LABELS

    def shift_orders(a: Answer) -> list[tuple[int, ...]]:
        return cyclic_shifts(a.meta["order"], a.meta["shifts"])

    # slot prior per number of candidates: mean probability of each shown slot
    sums: dict[int, list[float]] = {}
    counts: dict[int, int] = {}
    answers = list(answers)
    todo = [a for a in answers if "shift_scores" in a.meta]
    for a in todo:
        n = len(a.scores)
        acc = sums.setdefault(n, [0.0] * n)
        for order, scores in zip(shift_orders(a), a.meta["shift_scores"], strict=True):
            for slot, original in enumerate(order):
                acc[slot] += math.exp(scores[original])
            counts[n] = counts.get(n, 0) + 1
    log_prior = {n: [math.log(s / counts[n]) for s in acc] for n, acc in sums.items()}
    out = []
    for a in answers:
        if "shift_scores" not in a.meta:
            out.append(a)
            continue
        n = len(a.scores)
        prior = log_prior[n]
        calibrated = [0.0] * n
        orders = shift_orders(a)
        for order, scores in zip(orders, a.meta["shift_scores"], strict=True):
            for slot, original in enumerate(order):
                calibrated[original] += (scores[original] - prior[slot]) / len(orders)
        pick = max(range(n), key=calibrated.__getitem__)
        shown = list(a.meta["order"]).index(pick)
        meta = {
            **a.meta,
            "uncalibrated_scores": list(a.scores),
            "uncalibrated_shown_position": a.meta.get("shown_position"),
            "shown_position": shown,
            "calibration": "batch",
        }
        out.append(
            dataclasses.replace(a, pick=pick, scores=calibrated, raw=LABELS[shown], meta=meta)
        )
    return out


def position_stats(answers: Iterable[Answer]) -> PositionStats:
    """``PositionStats`` of these answers' picks."""
    stats = PositionStats()
    stats.extend(answers)
    return stats
