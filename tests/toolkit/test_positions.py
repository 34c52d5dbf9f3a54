"""Position-bias control: seeded shuffles, score round trips, pick statistics and flags."""

from __future__ import annotations

import doctest
import random

import pytest

from toolkit.reasoners import positions
from toolkit.reasoners.base import Answer, ReasonerInput
from toolkit.reasoners.positions import (
    PositionStats,
    chi2_sf,
    present,
    shuffled_order,
    unshuffle_scores,
)


def test_doctests():
    assert doctest.testmod(positions).failed == 0


@pytest.mark.parametrize("n", [1, 2, 5, 10, 13])
def test_shuffle_present_unshuffle_round_trip(n):
    candidates = tuple(f"item{i}" for i in range(n))
    inp = ReasonerInput("ctx", candidates)
    scores = [float(i) * 1.5 - 3 for i in range(n)]
    for key in ("a", "b", "c"):
        order = shuffled_order(n, 7, key)
        assert sorted(order) == list(range(n))
        shown = present(inp, order)
        assert shown.context == "ctx"
        assert sorted(shown.candidates) == sorted(candidates)
        # a scorer that reads candidates in shown order; unshuffling restores the original
        shown_scores = [scores[candidates.index(c)] for c in shown.candidates]
        assert unshuffle_scores(shown_scores, order) == scores


def test_shuffle_is_seeded_per_key_and_stable():
    assert shuffled_order(10, 0, "u1") == shuffled_order(10, 0, "u1")
    # pinned: the order must not change across processes or Python versions
    assert shuffled_order(10, 0, "u1") == [1, 3, 4, 0, 8, 7, 2, 6, 5, 9]
    assert shuffled_order(10, 1, "u1") != shuffled_order(10, 0, "u1")
    assert len({tuple(shuffled_order(10, 0, f"k{i}")) for i in range(50)}) == 50


def test_shuffle_spreads_each_candidate_uniformly():
    stats = PositionStats()
    for i in range(2000):
        stats.add(shuffled_order(10, 3, f"example-{i}").index(0), 10)
    summary = stats.summary()
    assert not summary["flagged"]
    assert summary["p_value"] > 1e-3
    assert max(summary["shares"]) < 0.15


def test_bad_orders_are_rejected():
    inp = ReasonerInput("", ("a", "b", "c"))
    with pytest.raises(ValueError, match="permutation"):
        present(inp, [0, 0, 1])
    with pytest.raises(ValueError, match="permutation"):
        unshuffle_scores([1.0, 2.0], [0, 1, 2])


def test_chi2_sf_known_values():
    assert chi2_sf(0.0, 3) == 1.0
    assert chi2_sf(3.841459, 1) == pytest.approx(0.05, abs=1e-6)
    assert chi2_sf(16.918978, 9) == pytest.approx(0.05, abs=1e-6)
    assert chi2_sf(21.665994, 9) == pytest.approx(0.01, abs=1e-6)
    assert chi2_sf(11.070498, 5) == pytest.approx(0.05, abs=1e-6)
    assert chi2_sf(1000.0, 9) < 1e-100
    with pytest.raises(ValueError):
        chi2_sf(1.0, 0)


def test_constant_position_reasoner_is_flagged():
    stats = PositionStats()
    for _ in range(100):
        stats.add(0, 10)
    summary = stats.summary()
    assert summary["flagged"] and stats.flagged
    assert summary["max_position"] == 0 and summary["max_share"] == 1.0
    assert summary["entropy_bits"] == 0.0
    assert summary["p_value"] < 1e-10
    assert len(summary["reasons"]) == 2


def test_uniform_reasoner_is_not_flagged():
    rng = random.Random(0)
    stats = PositionStats()
    for _ in range(1000):
        stats.add(rng.randrange(10), 10)
    summary = stats.summary()
    assert not summary["flagged"]
    assert summary["entropy_ratio"] > 0.99
    assert sum(summary["counts"]) == summary["n"] == 1000


def test_moderate_bias_is_caught_by_the_test_not_the_share():
    stats = PositionStats()
    rng = random.Random(1)
    for _ in range(1000):
        stats.add(0 if rng.random() < 0.3 else rng.randrange(10), 10)
    summary = stats.summary()
    assert summary["max_share"] < 0.5
    assert summary["flagged"]
    assert summary["reasons"] == [r for r in summary["reasons"] if "chi-square" in r]


def test_few_samples_are_not_flagged():
    stats = PositionStats()
    for _ in range(5):
        stats.add(0, 10)
    assert not stats.flagged


def test_invalid_answers_and_mixed_sizes():
    stats = PositionStats()
    stats.add(None, 10)
    stats.add(1, 2)
    stats.add(3, 4)
    assert stats.invalid == 1 and stats.total == 2
    assert stats.expected == pytest.approx([0.75, 0.75, 0.25, 0.25])
    with pytest.raises(ValueError):
        stats.add(4, 4)
    with pytest.raises(ValueError):
        stats.add(0, 0)


def test_add_answer_reads_the_shown_position():
    stats = PositionStats()
    stats.add_answer(Answer(pick=2, scores=[0.0, 1.0, 2.0], meta={"shown_position": 0}))
    stats.extend([Answer(pick=1, scores=[0.0, 1.0, 0.5]), Answer(pick=None, scores=[0, 0, 0])])
    assert stats.counts == [1, 1, 0]
    assert stats.invalid == 1
