"""Rewards: values, edge cases, the registry, and the doctests of every reward."""

from __future__ import annotations

import doctest
import math

import pytest

import trainers.rewards as rewards_module
from toolkit.errors import UnknownNameError
from trainers.rewards import (
    REWARDS,
    Combined,
    accuracy,
    combined,
    get_reward,
    length_plateau,
    plateau,
    plus_minus_one,
    ranking,
    reciprocal_rank,
)


def test_doctests_pass():
    result = doctest.testmod(rewards_module)
    assert result.attempted >= 7 and result.failed == 0


def test_registry_names_and_dotted_path():
    for name in ("accuracy", "length_plateau", "combined", "ranking", "plus_minus_one"):
        assert name in REWARDS
    assert get_reward("trainers.rewards:accuracy") is accuracy
    with pytest.raises(UnknownNameError, match="known: accuracy"):
        get_reward("nope")


def test_accuracy_and_plus_minus_one_agree():
    picks, targets = [0, 1, None, 3], [0, 2, 1, 3]
    acc = accuracy([""] * 4, pick=picks, target=targets)
    pm = plus_minus_one([""] * 4, pick=picks, target=targets)
    assert acc == [1.0, 0.0, 0.0, 1.0]
    assert pm == [2 * a - 1 for a in acc]


@pytest.mark.parametrize(
    ("x", "expected"),
    [(0.3, 1.0), (0.7, 1.0), (0.5, 1.0), (0.0, 0.1), (0.1, 0.4), (0.8, 0.7), (1.1, 0.0)],
)
def test_plateau_shape(x, expected):
    assert plateau(x, 0.3, 0.7, 3.0, 3.0) == pytest.approx(expected)


def test_plateau_slopes_are_independent():
    assert plateau(0.2, 0.3, 0.7, 1.0, 10.0) == pytest.approx(0.9)
    assert plateau(0.8, 0.3, 0.7, 1.0, 10.0) == pytest.approx(0.0)
    assert plateau(0.75, 0.3, 0.7, 1.0, 10.0) == pytest.approx(0.5)


def test_length_plateau_options_and_missing_ratio():
    out = length_plateau(["a", "b"], compression=[0.9, None], high=1.0)
    assert out == [1.0, 0.0]


def test_reciprocal_rank_ties_average_positions():
    assert reciprocal_rank([1.0, 2.0, 3.0], 2) == 1.0
    assert reciprocal_rank([1.0, 2.0, 3.0], 0) == pytest.approx(1 / 3)
    # target tied with one other for first place: (1 + 1/2) / 2
    assert reciprocal_rank([5.0, 5.0, 1.0], 1) == pytest.approx(0.75)


def test_ranking_is_denser_than_accuracy():
    scores = [[0.9, 0.8, 0.1], [0.1, 0.2, 0.9]]
    target = [1, 0]
    picks = [0, 2]
    assert accuracy(["", ""], pick=picks, target=target) == [0.0, 0.0]
    rr = ranking(["", ""], scores=scores, target=target)
    assert rr == pytest.approx([0.5, 1 / 3])
    assert ranking([""], scores=[None], target=[0]) == [0.0]


def test_combined_weights_and_parts():
    reward = combined(accuracy, length_plateau, alpha=0.9)
    assert isinstance(reward, Combined)
    cols = {"pick": [0, 1, 0], "target": [0, 0, 0], "compression": [0.5, 0.5, 1.0]}
    parts = reward.parts(["", "", ""], **cols)
    assert parts["correct"] == [1.0, 0.0, 1.0]
    assert parts["length"] == pytest.approx([1.0, 1.0, 0.1])
    assert reward(["", "", ""], **cols) == pytest.approx([1.0, 0.1, 0.91])
    assert all(math.isfinite(v) for v in reward(["", "", ""], **cols))
    with pytest.raises(ValueError, match="alpha"):
        combined(alpha=1.5)
    assert combined(alpha=1.0)([""], pick=[1], target=[1], compression=[5.0]) == [1.0]


# ---- regressions (issue 11): every shipped kind through the path training uses ----------


def _stage1_reward(**rewards):
    from tests.trainers.conftest import GENRES, GenreOracle, ToyGenreVerbalizer, toy_tasks
    from trainers.config import VerbalizerTrainConfig
    from trainers.stage1 import VerbalizerReward, stage1_reward

    tasks = toy_tasks(6)
    config = VerbalizerTrainConfig(data={"tasks": "x"}, rewards=rewards)
    reward = VerbalizerReward(
        {ex.example_id: ex for ex in tasks.split("train")},
        tasks.catalog,
        ToyGenreVerbalizer(None),
        GenreOracle(tasks.catalog),
        stage1_reward(config.rewards),
    )
    return reward, tasks.split("train")[0], GENRES


@pytest.mark.parametrize("kind", sorted(REWARDS.names()))
@pytest.mark.parametrize("length", [True, False])
def test_every_shipped_kind_runs_through_stage1(kind, length):
    reward, ex, genres = _stage1_reward(kind=kind, length=length)
    logged = {}
    out = reward([genres[0], genres[1]], [ex.example_id] * 2, log_metric=logged.__setitem__)
    assert len(out) == 2 and all(isinstance(v, float) for v in out)
    assert "accuracy" in logged


def test_combined_kind_does_not_raise_at_the_first_reward_call():
    """Regression: ``rewards.kind: combined`` raised ``TypeError: combined() got an
    unexpected keyword argument 'pick'``."""
    reward, ex, genres = _stage1_reward(kind="combined")
    out = reward([genres[0], genres[1]], [ex.example_id] * 2)
    plain, _, _ = _stage1_reward(kind="accuracy")
    assert out == plain([genres[0], genres[1]], [ex.example_id] * 2)  # accuracy + plateau


def test_length_plateau_kind_counts_the_length_term_once():
    """Regression: ``kind: length_plateau`` added the plateau as the correctness term too
    (with the default plateau settings), so the length counted twice."""
    reward, ex, genres = _stage1_reward(
        kind="length_plateau", plateau={"low": 0.0, "high": 0.05, "slope_high": 1.0}
    )
    cols = reward.columns([genres[0]], [ex.example_id])
    expected = length_plateau(
        [""], compression=cols["compression"], low=0.0, high=0.05, slope_high=1.0
    )
    logged = {}
    assert reward([genres[0]], [ex.example_id], log_metric=logged.__setitem__) == expected
    assert "rewards/correct" not in logged and "rewards/length" in logged
