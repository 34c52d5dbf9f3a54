"""Oracle diagnostics: conditions, paired differences, the verdict."""

from __future__ import annotations

import doctest

import pytest

from toolkit import diagnostics
from toolkit.diagnostics import (
    DEGRADED,
    GOOD,
    condition_texts,
    diagnose_oracle,
    oldest,
    paired_difference,
    shuffled,
)
from toolkit.reasoners.base import Answer, Reasoner
from toolkit.sources import read_source
from toolkit.tasks import TaskConfig, TaskSet, prepare_tasks


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    out = tmp_path_factory.mktemp("tasks") / "syn"
    prepare_tasks(read_source("synthetic", None, n_users=12, seed=7), out, TaskConfig())
    return TaskSet.load(out)


def test_doctests():
    assert doctest.testmod(diagnostics).failed == 0


def test_degradations_keep_or_cut_the_interactions(tasks):
    history = tasks.split("val")[0].history.last(20)
    assert sorted(x.item_id for x in shuffled(history).interactions) == sorted(history.item_ids())
    assert shuffled(history) == shuffled(history)  # seeded
    assert oldest(history).interactions == history.interactions[:3]


def test_condition_texts(tasks):
    examples = tasks.split("val")[:3]
    texts = {c: condition_texts(examples, tasks.catalog, c) for c in (*GOOD, *DEGRADED)}
    assert all(len(t) == 3 for t in texts.values())
    for template, truncated in zip(texts["template"], texts["truncated"], strict=True):
        assert template.splitlines()[:3] == truncated.splitlines()
    assert texts["heuristic_rewrite"] != texts["template"]


def test_paired_difference_interval():
    same = paired_difference([1, 0] * 50, [1, 0] * 50, n=200)
    assert same.value == 0 and same.lo == same.hi == 0
    better = paired_difference([1] * 80 + [0] * 20, [0] * 80 + [0] * 20, n=200)
    assert better.value == pytest.approx(0.8) and better.lo > 0.6


class TargetSeer(Reasoner):
    """Scores the target first when the context is long enough, else is blind."""

    name = "seer"

    def __init__(self, catalog, targets, min_lines):
        super().__init__(catalog)
        self.targets, self.min_lines = targets, min_lines

    def answer_batch(self, inputs):
        out = []
        for inp in inputs:
            sees = len(inp.context.splitlines()) >= self.min_lines
            scores = [float(sees and c in self.targets) for c in inp.candidates]
            out.append(Answer(pick=max(range(len(scores)), key=scores.__getitem__), scores=scores))
        return out


def test_verdicts_of_a_sensitive_and_a_blind_oracle(tasks):
    examples = [ex for ex in tasks.split("val") if len(ex.history) >= 6][:30]
    targets = {ex.target for ex in examples}
    sensitive = diagnose_oracle(
        TargetSeer(tasks.catalog, targets, 4), examples, tasks.catalog, n_boot=200
    )
    assert set(sensitive["conditions"]) == {*GOOD, *DEGRADED}
    assert sensitive["conditions"]["template"]["recall@1"]["value"] > 0.5
    assert sensitive["conditions"]["truncated"]["recall@1"]["value"] < 0.3
    assert sensitive["able"] and sensitive["template_separates"]
    blind = diagnose_oracle(
        TargetSeer(tasks.catalog, targets, 10**6), examples, tasks.catalog, n_boot=200
    )
    assert not blind["able"] and blind["verdict"] == "unable to train a verbalizer"
    assert all(d["value"] == 0 for d in blind["differences"].values())


@pytest.mark.embedded
@pytest.mark.slow
def test_cli_diagnoses_the_embedding_oracle(capsys, tasks, tmp_path):
    import json

    from toolkit.cli import main

    out = tmp_path / "diag.json"
    code = main(
        [
            "eval",
            "--tasks",
            str(tasks.path),
            "--diagnose-oracle",
            "embedding",
            "--limit",
            "8",
            "--bootstrap",
            "50",
            "--out",
            str(out),
        ]
    )
    assert code == 0 and "embedding" in capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert doc["split"] == "val"
    diag = doc["oracles"]["embedding"]
    assert set(diag["conditions"]) == {*GOOD, *DEGRADED} and diag["n"] == 8
    assert isinstance(diag["able"], bool)
