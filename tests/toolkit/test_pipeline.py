"""The one evaluation pipeline: episodes, windows, candidate order, paired statistics,
content-keyed reuse, and `vtk eval` == `vtk experiment` on the same rows.

Several tests are regressions of issue 11 (each failed on the code before it)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from toolkit.cli import main
from toolkit.evaluation import RECALL, RECALL_DISCOVERY, relative_change
from toolkit.records import Catalog, History, Interaction, Item
from toolkit.sources import read_source
from toolkit.tasks import RerankExample, TaskConfig, TaskSet, prepare_tasks


def _example(n_history: int, target_at: int | None) -> RerankExample:
    items = [f"i{k}" for k in range(n_history)]
    if target_at is not None:
        items[target_at] = "t"
    history = History(
        user_id="u", interactions=tuple(Interaction(item_id=i, event="watch") for i in items)
    )
    return RerankExample(
        example_id="u", user_id="u", history=history, candidates=("t", "n1", "n2"),
        target="t", discovery=target_at is None, split="test",
    )  # fmt: skip


@pytest.fixture(scope="module")
def tasks_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("tasks") / "syn"
    source = read_source("synthetic", None, n_users=30, seed=3, history_length=[10, 14])
    prepare_tasks(source, out, TaskConfig(max_history=12, train_per_user=1))
    return out


def test_discovery_is_computed_on_the_window_the_reader_sees():
    """Regression: a target seen only before the shown window counted as a repeat."""
    from toolkit.episodes import build_episodes

    ex = _example(100, target_at=10)  # seen at position 11 of 100, outside the last 20
    assert not ex.discovery
    (episode,) = build_episodes([ex], window=20)
    assert len(episode.example.history) == 20
    assert episode.example.discovery  # the reader never saw it
    (full,) = build_episodes([ex], window=None)
    assert not full.example.discovery
    (inside,) = build_episodes([_example(100, target_at=95)], window=20)
    assert not inside.example.discovery


def test_vtk_eval_counts_discovery_on_the_shown_window(tasks_dir, tmp_path):
    """Regression (through the CLI): targets planted before the shown window were counted
    as repeats by `vtk eval`, though no reader was shown them."""
    import shutil

    planted = tmp_path / "planted"
    shutil.copytree(tasks_dir, planted)
    rows = [json.loads(line) for line in (planted / "test.jsonl").read_text().splitlines()]
    for row in rows:
        first = dict(row["history"][0], item_id=row["target"])
        row["history"] = [first, *row["history"]]  # seen long ago: a repeat of the file
        row["discovery"] = False
    (planted / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "eval.json"
    code = main(["eval", "--tasks", str(planted), "--max-history", "6", "--bootstrap", "0",
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    row = json.loads(out.read_text())["rows"][0]
    assert row["metrics"][RECALL_DISCOVERY]["n"] == len(rows)  # all unseen in the window


def test_candidate_order_depends_on_seed_and_example_only(tasks_dir):
    """Regression: the LLM reader keyed its candidate order on the context text, so two
    verbalizations of one example put the target in different slots."""
    from toolkit.reasoners.base import ReasonerInput
    from toolkit.reasoners.llm import LLMReasoner

    tasks = TaskSet.load(tasks_dir)
    ex = tasks.split("test")[0]

    class Probe(LLMReasoner):
        def __init__(self):  # no model needed to read the order
            self.shuffle, self.seed = True, 0

    probe = Probe()
    a = probe._order(ReasonerInput("template text", ex.candidates))
    b = probe._order(ReasonerInput("a zero-shot summary", ex.candidates))
    assert a == b


def test_relative_change_keeps_every_resample():
    """Regression: resamples whose baseline mean was 0 were dropped (about 36% at a
    baseline of 1/24), which made the interval conditional and too narrow."""
    base = [1.0] + [0.0] * 23
    mine = [1.0] * 3 + [0.0] * 21
    change = relative_change(mine, base, n=2000, seed=0)
    assert change.value == pytest.approx(2.0)
    # ~36% of resamples have a zero baseline and a positive numerator: +inf, kept
    assert change.hi == float("inf")
    assert relative_change(mine, [0.0] * 24, n=200).value is None  # undefined, not a number


def test_paired_comparison_verdict_and_mcnemar():
    from scipy.stats import binomtest

    from toolkit.stats import paired_comparison

    rng = np.random.default_rng(0)
    b = (rng.random(300) < 0.2).astype(float)
    a = np.maximum(b, (rng.random(300) < 0.15).astype(float))
    c = paired_comparison(a, b, n_boot=500)
    better, worse = c.discordant
    assert worse == 0 and better > 20
    assert c.p_value == pytest.approx(binomtest(better, better, 0.5).pvalue)
    assert c.verdict == "beats" and c.diff.lo > 0
    same = paired_comparison(b, b, n_boot=200)
    assert same.verdict == "no difference" and same.p_value == 1.0


def test_tie_credits_are_not_counted_as_wins():
    """Regression: McNemar counted a user discordant whenever two per-user values differed,
    so a row that ties all ten candidates (BM25 credits 0.1 each) "won" on every user the
    other row missed: p = 4e-16 for a zero difference."""
    from toolkit.stats import mcnemar_exact, paired_comparison, sign_flip_p

    ties = [0.1] * 800  # a text that names no candidate: chance credit everywhere
    hits = [1.0] * 80 + [0.0] * 720  # a row with the same mean, 0/1 hits
    assert mcnemar_exact(ties, hits)[0] < 1e-10  # the old test's answer
    c = paired_comparison(ties, hits, n_boot=200)
    assert c.test == "sign-flip" and c.diff.value == pytest.approx(0.0)
    assert c.p_value > 0.5 and c.verdict == "no difference"
    assert c.to_json()["test"] == "sign-flip"
    # on 0/1 hits the sign-flip test is McNemar's (by Monte Carlo), and the exact one is used
    rng = np.random.default_rng(1)
    b = (rng.random(400) < 0.2).astype(float)
    a = np.where(rng.random(400) < 0.1, 1.0 - b, b)
    c = paired_comparison(a, b, n_boot=0)
    assert c.test == "mcnemar" and c.p_value == mcnemar_exact(a, b)[0]
    assert sign_flip_p(a, b, n_resamples=20000) == pytest.approx(c.p_value, abs=0.02)


def test_stale_verbalizations_of_another_model_are_not_reused(tasks_dir, tmp_path, capsys):
    """Regression: `vtk eval --verbalizations` matched rows by verbalizer *name*, so rows
    made by another model (or an older prompt) were silently scored."""
    tasks = TaskSet.load(tasks_dir)
    stale = tmp_path / "stale.jsonl"
    with stale.open("w") as fh:
        for ex in tasks.split("test")[:4]:
            row = {"example_id": ex.example_id, "verbalizer": "heuristic_rewrite", "text": "STALE",
                   "valid": True, "compression": 123.0, "tokens": 1, "chars": 5}  # fmt: skip
            fh.write(json.dumps(row) + "\n")
    out = tmp_path / "eval.json"
    code = main(
        ["eval", "--tasks", str(tasks_dir), "--verbalizer", "heuristic_rewrite",
         "--reasoner", "bm25", "--verbalizations", str(stale), "--limit", "4",
         "--bootstrap", "0", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    row = next(r for r in json.loads(out.read_text())["rows"] if r["name"].startswith("heur"))
    assert row["extras"]["compression"] < 1.0  # recomputed, not the stale 123.0


def test_content_cache_reuses_only_matching_rows(tasks_dir, tmp_path):
    from toolkit.cache import ContentStore
    from toolkit.episodes import build_episodes
    from toolkit.pipeline import verbalize
    from toolkit.verbalize import build_verbalizer

    tasks = TaskSet.load(tasks_dir)
    store = ContentStore(tmp_path / "cache")
    v = build_verbalizer("heuristic_rewrite", domain=tasks.domain)
    eps = build_episodes(tasks.split("test")[:5], window=8)
    first = verbalize(eps, tasks.catalog, v, store=store)
    assert len(store) == 5
    again = verbalize(eps, tasks.catalog, v, store=store)
    assert [r["key"] for r in again] == [r["key"] for r in first]
    assert len(store) == 5  # nothing recomputed
    other = verbalize(build_episodes(tasks.split("test")[:5], window=6), tasks.catalog, v,
                      store=store)  # fmt: skip
    assert len(store) == 10 and {r["key"] for r in other}.isdisjoint(r["key"] for r in first)
    assert all(r["window"] == 6 for r in other)


def test_eval_and_experiment_give_identical_numbers(tmp_path, capsys):
    from toolkit.experiment import ExperimentConfig, run_experiment

    config = ExperimentConfig.model_validate(
        {
            "name": "same",
            "data": {
                "source": "synthetic",
                "options": {"n_users": 30, "history_length": [10, 14]},
                "tasks": {"max_history": 12, "train_per_user": 1},
            },
            "eval": {"limit": 12, "reasoners": ["bm25"], "n_boot": 200, "max_history": 8},
            "rows": [
                {"name": "popularity", "table": "context", "scorer": "popularity"},
                {"name": "template", "verbalizer": "template"},
                {"name": "heuristic rewrite", "table": "ours", "verbalizer": "heuristic_rewrite"},
            ],
        }
    )
    exp = run_experiment(config, tmp_path / "exp", progress=False)
    out = tmp_path / "eval.json"
    code = main(
        ["eval", "--tasks", str(tmp_path / "exp" / "tasks"), "--verbalizer",
         "template,heuristic_rewrite", "--reasoner", "bm25", "--limit", "12",
         "--max-history", "8", "--bootstrap", "200", "--with-baselines", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    ev = {r["name"]: r for r in json.loads(out.read_text())["rows"]}
    ex = {r["name"]: r for r in exp["rows"]}
    pairs = {"popularity": "popularity", "template": "template+bm25",
             "heuristic rewrite": "heuristic_rewrite+bm25"}  # fmt: skip
    for exp_name, eval_name in pairs.items():
        for metric in (RECALL, RECALL_DISCOVERY, "ndcg@10", "mrr"):
            assert ex[exp_name]["metrics"][metric] == ev[eval_name]["metrics"][metric], metric
        assert ev[eval_name]["extras"]["window"] == 8
    a, b = ex["heuristic rewrite"]["comparison"], ev["heuristic_rewrite+bm25"]["comparisons"]
    assert a == b[f"{RECALL_DISCOVERY} vs template+bm25"]


def test_bm25_reader_prefers_the_candidate_the_context_names():
    from toolkit.reasoners.base import ReasonerInput
    from toolkit.reasoners.bm25 import BM25Reasoner

    catalog = Catalog([
        Item(item_id="1", title="Heat", year=1995, genres=("Action", "Crime")),
        Item(item_id="2", title="Kolya", year=1996, genres=("Comedy",)),
        Item(item_id="3", title="Toy Story", year=1995, genres=("Animation", "Comedy")),
    ])  # fmt: skip
    r = BM25Reasoner(catalog)
    (a,) = r.answer_batch([ReasonerInput("loves crime and action films", ("2", "3", "1"))])
    assert a.pick == 2 and a.scores[2] > 0 and a.scores[0] == 0
    (tie,) = r.answer_batch([ReasonerInput("nothing in common", ("2", "3", "1"), (1, 2, 0))])
    assert tie.pick == 1  # all scores 0: the candidate shown first
