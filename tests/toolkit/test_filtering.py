"""Noise vs signal drops: one count shared by the strategy table and Stage 1's metrics."""

from __future__ import annotations

import doctest
import json

import pytest

from toolkit import filtering


def test_doctests():
    assert doctest.testmod(filtering).failed == 0


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from toolkit.sources import read_source
    from toolkit.tasks import TaskConfig, TaskSet, prepare_tasks

    out = tmp_path_factory.mktemp("tasks") / "t"
    dataset = read_source("synthetic", None, n_users=12, history_length=[8, 8])
    prepare_tasks(dataset, out, TaskConfig(max_history=8, min_history=8))
    return TaskSet.load(out)


def noise_plan(history) -> str:
    """Drop exactly the interactions the generator flags as noise."""
    return json.dumps(["keep" if x.attrs["signal"] else "drop" for x in history.interactions])


def test_stage1_logs_the_share_of_noise_and_signal_dropped_per_step(synthetic):
    from tests.trainers.conftest import GenreOracle
    from trainers.config import PolicySettings, RewardSettings
    from trainers.stage1 import VerbalizerReward, policy_verbalizer, stage1_reward

    examples = synthetic.split("train")[:6]
    assert any(not x.attrs["signal"] for ex in examples for x in ex.history.interactions)
    reward = VerbalizerReward(
        {ex.example_id: ex for ex in examples},
        synthetic.catalog,
        policy_verbalizer(PolicySettings(name="actions"), None, synthetic.domain),
        GenreOracle(synthetic.catalog),
        stage1_reward(RewardSettings()),
    )
    keep_all = json.dumps(["keep"] * 8)
    texts = [noise_plan(ex.history) for ex in examples] + [keep_all] * len(examples)
    ids = [ex.example_id for ex in examples] * 2
    logged: dict[str, float] = {}
    reward(texts, ids, log_metric=logged.__setitem__)
    # half the rows drop all noise and no signal, the other half keep everything
    assert logged["verbalizer/noise_dropped"] == pytest.approx(0.5)
    assert logged["verbalizer/signal_dropped"] == 0.0


def test_sources_without_flags_log_no_drop_shares():
    from toolkit.records import Catalog, History, Interaction

    h = History(user_id="u", interactions=[Interaction(item_id="a", event="play")])
    counts = filtering.drop_counts([{"kept": []}], [h], Catalog())
    assert counts.noise_rate is None and counts.signal_rate is None


def test_a_rewrite_keeps_the_interactions_of_the_titles_it_names(synthetic):
    ex = synthetic.split("train")[0]
    first = synthetic.catalog.get(ex.history.interactions[0].item_id).display_title
    meta = {"rewrite": {"aggregated_items": [{"title": first}], "preferences": []}}
    kept = filtering.kept_indices(meta, ex.history, synthetic.catalog)
    assert 0 in kept and all(
        synthetic.catalog.get(ex.history.interactions[i].item_id).display_title == first
        for i in kept
    )
