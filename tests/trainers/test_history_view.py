"""Training sees what evaluation sees: the history window, the contexts and the candidate
order (regressions of issue 11: Stage 1/2 trained on full histories and on an order keyed on
the context text, while `vtk eval` showed 20 interactions in another order)."""

from __future__ import annotations

import pytest

from toolkit.sources import read_source
from toolkit.tasks import TaskConfig, TaskSet, prepare_tasks


@pytest.fixture(scope="module")
def long_tasks(tmp_path_factory):
    out = tmp_path_factory.mktemp("long") / "syn"
    source = read_source("synthetic", None, n_users=8, seed=2, history_length=[34, 40])
    prepare_tasks(source, out, TaskConfig(max_history=40, train_per_user=1))
    return TaskSet.load(out)


def test_stage1_examples_are_cut_to_the_shared_window(long_tasks):
    from trainers.stage1 import select

    full = long_tasks.split("train")
    assert max(len(ex.history) for ex in full) > 20
    shown = select(long_tasks, "train", None)
    assert all(len(ex.history) <= 20 for ex in shown)
    assert [ex.history.interactions for ex in shown] == [
        ex.history.interactions[-20:] for ex in full
    ]


def test_stage2_frozen_contexts_are_the_evaluation_contexts(long_tasks):
    from toolkit.episodes import build_episodes
    from toolkit.pipeline import verbalize
    from toolkit.verbalize import build_verbalizer
    from trainers.config import FrozenVerbalizerSettings
    from trainers.stage2 import frozen_contexts

    examples = long_tasks.split("test")
    contexts = frozen_contexts(
        examples, long_tasks.catalog, FrozenVerbalizerSettings(name="template"), "streaming"
    )
    rows = verbalize(
        build_episodes(examples, window=20),
        long_tasks.catalog,
        build_verbalizer("template", domain="streaming"),
    )
    assert contexts == [r["text"] for r in rows]


def test_stage2_candidate_order_is_the_episode_order(long_tasks):
    from toolkit.episodes import build_episodes
    from trainers.stage2 import shown_order

    examples = long_tasks.split("test")
    for ex, ep in zip(examples, build_episodes(examples, seed=3), strict=True):
        assert shown_order(ex.example_id, ex.candidates, True, 3) == list(ep.order)
