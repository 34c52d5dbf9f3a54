"""Metrics on hand-computed cases, bootstrap intervals, relative change, the table."""

from __future__ import annotations

import io
import math

import pytest

from toolkit.errors import UnknownNameError
from toolkit.evaluation import (
    MRR,
    NDCG,
    RECALL,
    RECALL_DISCOVERY,
    RECALL_REPEAT,
    VALID,
    Outcome,
    bootstrap_ci,
    compare,
    evaluate,
    mrr,
    ndcg_at_k,
    per_example,
    print_table,
    recall_at_1,
    relative_change,
    summarize,
)
from toolkit.records import History
from toolkit.tasks import RerankExample


def example(i: int, target_index: int, discovery: bool = True, n: int = 4) -> RerankExample:
    candidates = tuple(f"c{j}" for j in range(n))
    return RerankExample(
        example_id=f"e{i}",
        user_id="u",
        history=History(user_id="u"),
        candidates=candidates,
        target=candidates[target_index],
        discovery=discovery,
        split="test",
    )


def test_rank_metrics_by_hand():
    scores = [0.1, 0.7, 0.3, 0.9]  # ranks: c3, c1, c2, c0
    assert recall_at_1(scores, 3) == 1.0 and recall_at_1(scores, 1) == 0.0
    assert ndcg_at_k(scores, 3) == 1.0
    assert ndcg_at_k(scores, 1) == pytest.approx(1 / math.log2(3))
    assert ndcg_at_k(scores, 0) == pytest.approx(1 / math.log2(5))
    assert ndcg_at_k(scores, 0, k=3) == 0.0
    assert mrr(scores, 2) == pytest.approx(1 / 3)


def test_ties_count_as_a_random_tie_break():
    flat = [0.0] * 4
    assert recall_at_1(flat, 2) == pytest.approx(0.25)
    assert mrr(flat, 0) == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 4) / 4)
    assert recall_at_1([1.0, 1.0, 0.0], 1) == 0.5
    assert recall_at_1([float("nan"), 0.5], 0) == 0.0


def test_outcomes_from_scores_and_from_picks():
    exs = [example(0, 1), example(1, 2, discovery=False), example(2, 0)]
    scores = [[0, 5, 1, 2], [3, 2, 1, 0], None]
    picks = [1, 2, None]
    by_scores = evaluate("s", exs, [[0, 5, 1, 2], [3, 2, 1, 0], [1, 0, 0, 0]], n_boot=0)
    assert by_scores.metrics[RECALL].value == pytest.approx(2 / 3)
    assert by_scores.metrics[RECALL_DISCOVERY].value == 1.0
    assert by_scores.metrics[RECALL_REPEAT].value == 0.0
    assert by_scores.metrics[MRR].value == pytest.approx((1 + 1 / 3 + 1) / 3)
    by_picks = evaluate("p", exs, scores, picks, n_boot=0)
    assert by_picks.metrics[RECALL].value == pytest.approx(2 / 3)
    assert by_picks.metrics[VALID].value == pytest.approx(2 / 3)
    assert by_picks.metrics[NDCG].n == 2  # only where scores exist
    with pytest.raises(ValueError, match="scores for 4 candidates"):
        evaluate("bad", exs[:1], [[1, 2]])
    with pytest.raises(ValueError):
        evaluate("bad", exs, scores[:2])


def test_generate_only_rows_have_no_rank_metrics():
    result = evaluate("gen", [example(0, 0)], [None], [0], n_boot=0)
    assert NDCG not in result.metrics and MRR not in result.metrics
    assert result.metrics[RECALL].value == 1.0


def test_bootstrap_ci_covers_the_mean_and_shrinks():
    import numpy as np

    rng = np.random.default_rng(0)
    small = (rng.random(100) < 0.3).astype(float).tolist()
    large = (rng.random(5000) < 0.3).astype(float).tolist()
    lo, hi = bootstrap_ci(small, seed=1)
    assert lo < sum(small) / len(small) < hi
    assert 0.15 < lo < hi < 0.45
    lo2, hi2 = bootstrap_ci(large, seed=1)
    assert lo2 < 0.3 < hi2 and hi2 - lo2 < (hi - lo) / 3
    assert bootstrap_ci(small, seed=1) == (lo, hi)
    assert bootstrap_ci([], seed=1) == (None, None)
    assert bootstrap_ci([0.5] * 10) == pytest.approx((0.5, 0.5))


def test_relative_change_and_its_paired_interval():
    a = [1, 1, 0, 1, 0, 1, 1, 0] * 25
    b = [1, 0, 0, 1, 0, 0, 1, 0] * 25
    change = relative_change(a, b, seed=0)
    assert change.value == pytest.approx(5 / 3 - 1)
    assert change.lo < change.value < change.hi
    assert change.lo > 0  # a wins on every pair where they differ
    same = relative_change(b, b)
    assert same.value == 0 and same.lo == 0 and same.hi == 0
    assert relative_change([1, 0], [0, 0]).value is None
    with pytest.raises(ValueError):
        relative_change([1], [1, 0])


def test_compare_pairs_rows_on_shared_examples():
    exs = [example(i, i % 4, discovery=i % 3 != 0) for i in range(60)]
    perfect = [[float(j == ex.target_index) for j in range(4)] for ex in exs]
    half = [s if i % 2 else [0.0, 0.0, 0.0, 0.0] for i, s in enumerate(perfect)]
    rows = [evaluate("perfect", exs, perfect), evaluate("half", exs, half)]
    key = compare(rows, "half")
    assert key == f"change/{RECALL_DISCOVERY}"
    base = per_example(rows[1].outcomes, RECALL_DISCOVERY)
    expected = 1 / (sum(base.values()) / len(base)) - 1
    assert rows[0].metrics[key].value == pytest.approx(expected)
    assert rows[1].metrics[key].value == 0
    with pytest.raises(UnknownNameError, match="rows: perfect, half"):
        compare(rows, "template")


def test_summarize_splits_discovery_and_repeat():
    outcomes = [
        Outcome("a", True, 1.0, True, 1.0, 1.0),
        Outcome("b", True, 0.0, True, 0.5, 0.5),
        Outcome("c", False, 1.0, True, 1.0, 1.0),
    ]
    row = summarize("x", outcomes, extras={"compression": 0.4}, n_boot=100)
    assert row.metrics[RECALL_DISCOVERY].value == 0.5 and row.metrics[RECALL_DISCOVERY].n == 2
    assert row.metrics[RECALL_REPEAT].value == 1.0 and row.metrics[RECALL_REPEAT].n == 1
    doc = row.to_json()
    assert doc["n"] == 3 and doc["extras"] == {"compression": 0.4}
    assert set(doc["metrics"]) == {RECALL, RECALL_DISCOVERY, RECALL_REPEAT, NDCG, MRR, VALID}


def test_print_table_shows_rows_change_and_extras():
    from rich.console import Console

    exs = [example(i, i % 4) for i in range(40)]
    good = [[float(j == ex.target_index) for j in range(4)] for ex in exs]
    flat = [[0.0] * 4 for _ in exs]
    rows = [
        evaluate("template", exs, flat, extras={"tokens": 812}),
        evaluate("rewrite", exs, good, extras={"tokens": 301}),
    ]
    out = io.StringIO()
    print_table(rows, baseline="template", console=Console(file=out, width=200), title="T")
    text = out.getvalue()
    assert "(baseline)" in text and "+300.0%" in text
    assert "tokens" in text and "812" in text and "301" in text
    assert "R@1 repeat" not in text  # no repeat examples in any row
