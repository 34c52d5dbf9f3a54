"""Rewards: plain callables ``(completions, **columns) -> list[float]``, found by name.

A stage first turns a batch of completions into per-completion columns (the oracle's or
the policy's ``pick``, the ``target`` index, the candidate ``scores``, the verbalization's
``compression``), then calls the configured reward on them. The signature is TRL's, so a
user reward written for TRL works here (``rewards.kind: package.module:function``).
``combined`` weights a correctness reward against the length plateau and reports each
part, so the parts are logged separately.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from toolkit.registry import Registry

RewardFn = Callable[..., list[float]]

REWARDS: Registry[RewardFn] = Registry("reward", group="vtk.rewards")


@REWARDS.register("accuracy")
def accuracy(
    completions: Sequence[Any], *, pick: Sequence[int | None], target: Sequence[int], **_: Any
) -> list[float]:
    """1 when the pick is the target, else 0 (an invalid pick, None, is wrong).

    >>> accuracy(["a", "b", "c"], pick=[2, 0, None], target=[2, 1, 0])
    [1.0, 0.0, 0.0]
    """
    return [1.0 if p is not None and p == t else 0.0 for p, t in zip(pick, target, strict=True)]


@REWARDS.register("plus_minus_one")
def plus_minus_one(
    completions: Sequence[Any], *, pick: Sequence[int | None], target: Sequence[int], **_: Any
) -> list[float]:
    """+1 for the target, -1 for anything else (Stage 2's reward).

    >>> plus_minus_one(["A", "C", ""], pick=[0, 2, None], target=[0, 0, 0])
    [1.0, -1.0, -1.0]
    """
    return [1.0 if p is not None and p == t else -1.0 for p, t in zip(pick, target, strict=True)]


def reciprocal_rank(scores: Sequence[float], target: int) -> float:
    """Expected 1/rank of ``target`` when ties are broken uniformly at random, so an
    all-equal score list (an empty context) is worth a random guess's reciprocal rank.

    >>> reciprocal_rank([0.1, 0.9, 0.5], 2)
    0.5
    >>> round(reciprocal_rank([0.0, 0.0, 0.0, 0.0], 1), 4)  # (1 + 1/2 + 1/3 + 1/4) / 4
    0.5208
    """
    mine = scores[target]
    above = sum(1 for s in scores if s > mine)
    tied = sum(1 for s in scores if s == mine)
    return sum(1.0 / (above + k) for k in range(1, tied + 1)) / tied


@REWARDS.register("ranking")
def ranking(
    completions: Sequence[Any],
    *,
    scores: Sequence[Sequence[float] | None],
    target: Sequence[int],
    **_: Any,
) -> list[float]:
    """Reciprocal rank of the target under the candidate scores (0 without scores): a
    denser signal than accuracy, since a near miss still earns something.

    >>> ranking(["x", "y"], scores=[[0.2, 0.7, 0.1], [0.9, 0.5, 0.1]], target=[1, 2])
    [1.0, 0.3333333333333333]
    """
    return [
        0.0 if s is None or not len(s) else reciprocal_rank(s, t)
        for s, t in zip(scores, target, strict=True)
    ]


def target_probability(scores: Sequence[float], target: int) -> float:
    """The target's probability under a softmax of the candidates' standardized scores
    (z-scores), so the reward does not depend on the scorer's scale; equal scores give
    1/n, like a uniform guess.

    >>> round(target_probability([0.0, 0.0, 0.0, 0.0], 1), 4)
    0.25
    >>> target_probability([0.1, 0.9, 0.5], 1) > target_probability([0.1, 0.9, 0.5], 2)
    True
    """
    n = len(scores)
    mean = sum(scores) / n
    std = (sum((s - mean) ** 2 for s in scores) / n) ** 0.5
    if std == 0 or not math.isfinite(std):
        return 1.0 / n
    z = [(s - mean) / std for s in scores]
    top = max(z)
    weights = [math.exp(v - top) for v in z]
    return weights[target] / sum(weights)


@REWARDS.register("soft_accuracy")
def soft_accuracy(
    completions: Sequence[Any],
    *,
    scores: Sequence[Sequence[float] | None],
    target: Sequence[int],
    **_: Any,
) -> list[float]:
    """The oracle's probability of the target (``target_probability`` of its candidate
    scores; 0 without scores): accuracy made continuous, so a context that moves the
    target up without yet making it the pick is still rewarded. A lower-variance
    correctness signal than the hit for a verbalizer whose single decisions (keep or drop
    one line) shift the oracle's scores a little each.

    >>> [round(v, 3) for v in soft_accuracy(["x", "y"], scores=[[1, 1], None], target=[0, 0])]
    [0.5, 0.0]
    """
    return [
        0.0 if s is None or not len(s) else target_probability(list(s), t)
        for s, t in zip(scores, target, strict=True)
    ]


def plateau(x: float, low: float, high: float, slope_low: float, slope_high: float) -> float:
    """1 inside ``[low, high]``, linear fall-off outside, floored at 0.

    >>> [plateau(x, 0.3, 0.7, 3.0, 3.0) for x in (0.5, 0.2, 0.9, 2.0)]
    [1.0, 0.7, 0.4, 0.0]
    """
    if x < low:
        value = 1.0 - slope_low * (low - x)
    elif x > high:
        value = 1.0 - slope_high * (x - high)
    else:
        value = 1.0
    return round(max(0.0, value), 12)


@REWARDS.register("length_plateau")
def length_plateau(
    completions: Sequence[Any],
    *,
    compression: Sequence[float | None],
    low: float = 0.3,
    high: float = 0.7,
    slope_low: float = 3.0,
    slope_high: float = 3.0,
    **_: Any,
) -> list[float]:
    """The plateau of the compression ratio (verbalized / template length); 0 when the
    ratio is unknown.

    >>> length_plateau(["a", "b", "c"], compression=[0.5, 1.0, None])
    [1.0, 0.1, 0.0]
    """
    return [
        0.0 if x is None else plateau(float(x), low, high, slope_low, slope_high)
        for x in compression
    ]


def is_length_term(fn: Any) -> bool:
    """Whether a reward is the length plateau (possibly with its settings bound)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return fn is length_plateau


@dataclass(frozen=True)
class Combined:
    """``alpha * correct + (1 - alpha) * length``; ``parts`` gives each term's raw values.
    ``correct=None`` is the length term alone (``rewards.kind: length_plateau``)."""

    correct: RewardFn | None
    length: RewardFn
    alpha: float = 0.9

    def parts(self, completions: Sequence[Any], **columns: Any) -> dict[str, list[float]]:
        out = {"length": self.length(completions, **columns)}
        if self.correct is not None:
            out = {"correct": self.correct(completions, **columns), **out}
        return out

    def total(self, parts: dict[str, list[float]]) -> list[float]:
        if "correct" not in parts:
            return list(parts["length"])
        a = self.alpha
        return [a * c + (1 - a) * n for c, n in zip(parts["correct"], parts["length"], strict=True)]

    def __call__(self, completions: Sequence[Any], **columns: Any) -> list[float]:
        return self.total(self.parts(completions, **columns))


def combined(
    correct: RewardFn | None = accuracy, length: RewardFn = length_plateau, alpha: float = 0.9
) -> Combined:
    """The Stage 1 reward: correctness weighted by ``alpha``, the length plateau by the rest.
    The length term is counted once: a ``correct`` that is itself ``combined`` contributes
    its correctness part, and one that is the length plateau leaves the length term alone.

    >>> r = combined(accuracy, length_plateau, alpha=0.9)
    >>> [round(v, 6) for v in r(["x", "y"], pick=[0, 1], target=[0, 0], compression=[0.5, 1.0])]
    [1.0, 0.01]
    >>> combined(length_plateau, length_plateau).parts(["x"], compression=[1.0])
    {'length': [0.1]}
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    if isinstance(correct, Combined):
        correct = correct.correct
    if correct is not None and is_length_term(correct):
        correct = None
    return Combined(correct, length, alpha)


REWARDS.add("combined", Combined(accuracy, length_plateau, 0.9))
"""``rewards.kind: combined``: a ready reward (accuracy + the default plateau, alpha 0.9);
with ``rewards.length`` on, Stage 1 rebuilds it with the configured plateau and alpha."""


def get_reward(name: str) -> RewardFn:
    """A correctness reward by registry name or dotted path (``pkg.mod:fn``)."""
    return REWARDS.get(name)
