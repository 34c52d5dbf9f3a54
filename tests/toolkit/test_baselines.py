"""Non-LLM baselines on toy sets where the right answer is known; ML-100K numbers."""

from __future__ import annotations

from collections import Counter

import pytest

from toolkit.baselines import BASELINES, break_ties
from toolkit.evaluation import RECALL, evaluate
from toolkit.records import Catalog, History, Interaction, Item
from toolkit.tasks import RerankExample, TaskConfig, TaskSet, prepare_tasks

ITEMS = [f"i{k}" for k in range(12)]
CATALOG = Catalog(Item(item_id=i, title=i) for i in ITEMS)


def ex(uid: str, history: list[str], target: str, candidates: list[str], k: int = 0):
    return RerankExample(
        example_id=f"{uid}-train-{k}",
        user_id=uid,
        history=History(
            user_id=uid, interactions=tuple(Interaction(item_id=i, event="play") for i in history)
        ),
        candidates=tuple(candidates),
        target=target,
        discovery=target not in history,
        split="train",
    )


def test_registry_has_the_three():
    assert {"random", "popularity", "cooccurrence"} <= set(BASELINES.names())


def test_popularity_picks_the_most_popular():
    train = [ex(f"u{u}", ["i0", f"i{u + 2}"], "i1", ["i1", "i0"]) for u in range(5)]
    train += [ex("u9", ["i1", "i0", "i0"], "i0", ["i0", "i1"], k=1)]  # repeats count once
    model = BASELINES.get("popularity")().fit(train, CATALOG)
    assert model.counts["i0"] == 6 and model.counts["i1"] == 6 and model.counts["i3"] == 1
    test = ex("t", ["i5"], "i3", ["i9", "i3", "i0", "i4", "i11"])
    scores = model.score(test)
    assert max(range(5), key=scores.__getitem__) == 2  # i0
    assert scores.index(min(scores)) in (0, 4)  # unseen items score lowest


def test_cooccurrence_picks_the_co_occurring_item():
    # i1 goes with i0; i2 is more popular overall but never seen with i0
    train = [ex(f"a{u}", ["i0"], "i1", ["i1", "i5"]) for u in range(3)]
    train += [ex(f"b{u}", ["i3", "i4"], "i2", ["i2", "i5"]) for u in range(8)]
    model = BASELINES.get("cooccurrence")().fit(train, CATALOG)
    test = ex("t", ["i7", "i0"], "i1", ["i2", "i6", "i1", "i8"])
    scores = model.score(test)
    assert scores.index(max(scores)) == 2
    pop = BASELINES.get("popularity")().fit(train, CATALOG).score(test)
    assert pop.index(max(pop)) == 0  # popularity alone would get it wrong


def test_cooccurrence_weights_recent_history_more():
    train = [ex(f"a{u}", ["i0"], "i1", ["i1", "i5"]) for u in range(3)]
    train += [ex(f"b{u}", ["i3"], "i2", ["i2", "i5"]) for u in range(3)]
    model = BASELINES.get("cooccurrence")().fit(train, CATALOG)
    old_i0 = model.score(ex("t", ["i0", "i3"], "i2", ["i1", "i2"]))
    old_i3 = model.score(ex("t", ["i3", "i0"], "i1", ["i1", "i2"]))
    assert old_i0[1] > old_i0[0] and old_i3[0] > old_i3[1]


def test_random_is_seeded_and_at_chance():
    tests = [
        ex(f"u{k}", ["i0"], ITEMS[k % 10], ITEMS[:10], k) for k in range(3000)
    ]  # target position cycles through all ten
    a = BASELINES.get("random")(seed=1)
    assert a.score(tests[0]) == BASELINES.get("random")(seed=1).score(tests[0])
    assert a.score(tests[0]) != BASELINES.get("random")(seed=2).score(tests[0])
    recall = evaluate("random", tests, a.score_batch(tests), n_boot=0).metrics[RECALL].value
    assert 0.085 < recall < 0.115


def test_ties_are_broken_at_random_not_by_position():
    model = BASELINES.get("popularity")().fit([], CATALOG)  # every count is 0
    tests = [ex(f"u{k}", [], "i0", ITEMS[:10], k) for k in range(500)]
    picks = Counter(max(range(10), key=s.__getitem__) for s in model.score_batch(tests))
    assert len(picks) == 10 and max(picks.values()) < 100


def test_break_ties_keeps_order():
    import random

    scores = break_ties([3.0, 1.0, 3.0, 2.0, 1.0000001], random.Random(0))
    assert scores[1] < scores[4] < scores[3] < min(scores[0], scores[2])


@pytest.mark.data
def test_ml100k_recall_of_popularity_and_random(shared_data, tmp_path):
    """Popularity-weighted negatives take popularity from ~38% to ~13% Recall@1."""
    from toolkit.sources import read_source

    dataset = read_source("movielens-100k", shared_data / "ml-100k")
    expected = {"popularity": 0.13, "uniform": 0.38}
    for negatives, target in expected.items():
        prepare_tasks(dataset, tmp_path / negatives, TaskConfig(negatives=negatives))
        tasks = TaskSet.load(tmp_path / negatives, splits=("train", "test"))
        test = tasks.split("test")
        assert len(test) == 943 and all(e.discovery for e in test)
        recalls = {}
        for name in ("popularity", "random"):
            model = BASELINES.get(name)().fit(tasks.split("train"), tasks.catalog)
            row = evaluate(name, test, model.score_batch(test), n_boot=0)
            recalls[name] = row.metrics[RECALL].value
        assert recalls["popularity"] == pytest.approx(target, abs=0.04)
        assert recalls["random"] == pytest.approx(0.10, abs=0.04)
