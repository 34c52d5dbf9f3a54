"""The experiment runner on rows that need no LLM: tasks, verbalizers, oracle, report."""

from __future__ import annotations

import json

import pytest

from toolkit.errors import ConfigError
from toolkit.experiment import ExperimentConfig, deep_merge, run_experiment, strategies


def test_deep_merge_nested_override_wins():
    assert deep_merge({"a": {"b": 1, "c": 1}, "d": 1}, {"a": {"c": 2}}) == {
        "a": {"b": 1, "c": 2},
        "d": 1,
    }


def test_config_rejects_a_bad_stage_override():
    with pytest.raises(ValueError, match=r"grpo\.max_steps"):
        ExperimentConfig.model_validate(
            {"rows": [{"name": "x", "verbalizer": "rewrite", "train": {"grpo": {"max_steps": 0}}}]}
        )


def test_shipped_presets_validate():
    from toolkit.cli.demo import FULL_PRESET, PRESET
    from toolkit.config import load_config

    demo = load_config(ExperimentConfig, PRESET)
    rows = {row.name: row for row in demo.rows}
    # the demo's claim: RL alone from the untrained model, paired with that start
    assert rows["actions (RL only)"].train == {} and demo.stage1.get("warm_start") is None
    assert "zero-shot actions" in rows["actions (RL only)"].compare_to
    assert demo.eval.limit >= 200
    # its Stage 1 oracle is not the reader of the verdicts
    assert demo.stage1["oracle"]["name"] != demo.eval.reasoners[0]
    full = load_config(ExperimentConfig, FULL_PRESET)
    assert set(rows) <= {row.name for row in full.rows}
    assert {r.reasoner_train for r in full.rows} >= {"template", "verbalizer"}
    with pytest.raises(ConfigError):
        load_config(ExperimentConfig, PRESET, ["rows.0.bogus=1"])


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("exp")
    config = ExperimentConfig.model_validate(
        {
            "name": "tiny",
            "data": {
                "source": "synthetic",
                "options": {"n_users": 30, "history_length": [10, 14]},
                "tasks": {"max_history": 12, "train_per_user": 1},
            },
            "eval": {"limit": 20, "reasoners": ["embedding"], "n_boot": 100},
            "rows": [
                {"name": "popularity", "table": "context", "scorer": "popularity"},
                {"name": "template", "verbalizer": "template"},
                {"name": "heuristic actions", "table": "ours", "verbalizer": "heuristic_actions"},
                {
                    "name": "heuristic rewrite",
                    "table": "ours",
                    "verbalizer": "heuristic_rewrite",
                    "compare_to": ["heuristic actions"],
                },
            ],
        }
    )
    return out, run_experiment(config, out, progress=False)


def test_run_writes_report_with_every_row(small_run):
    out, results = small_run
    report = (out / "report.md").read_text()
    for name in ("popularity", "template", "heuristic actions", "heuristic rewrite"):
        assert name in report
    saved = json.loads((out / "report.json").read_text())
    assert [r["name"] for r in saved["rows"]] == [r["name"] for r in results["rows"]]
    row = next(r for r in results["rows"] if r["name"] == "heuristic rewrite")
    assert row["baseline"] == "template"
    assert row["change"] is not None
    metric = row["metrics"]["recall@1/discovery"]
    assert metric["lo"] <= metric["value"] <= metric["hi"]
    assert 0 < row["extras"]["compression"] < 1


def test_compare_to_adds_a_paired_cell_against_the_named_row(small_run):
    out, results = small_run
    row = next(r for r in results["rows"] if r["name"] == "heuristic rewrite")
    (cell,) = row["comparisons"]
    assert cell["against"] == "heuristic actions" and cell["n"] == 20
    assert cell["diff"]["lo"] <= cell["diff"]["value"] <= cell["diff"]["hi"]
    assert "## Paired comparisons" in (out / "report.md").read_text()


def test_compare_to_must_name_an_earlier_row():
    with pytest.raises(ValueError, match="compare_to: 'later' is not an earlier row"):
        ExperimentConfig.model_validate(
            {"rows": [{"name": "a", "compare_to": ["later"]}, {"name": "later"}]}
        )


def test_heuristic_drops_noise_more_than_signal(small_run):
    _, results = small_run
    s = results["strategies"]["heuristic_actions"]
    assert s["noise_drop_rate"] > s["signal_drop_rate"]
    assert results["strategies"]["template"]["dropped"] == 0


def test_strategies_counts_rewrite_titles_as_kept(small_run):
    from toolkit.tasks import TaskSet
    from toolkit.verbalizers.heuristic import HeuristicRewriteVerbalizer

    out, _ = small_run
    tasks = TaskSet.load(out / "tasks")
    ex = tasks.split("test")[:5]
    texts = HeuristicRewriteVerbalizer().verbalize_batch([e.history for e in ex], tasks.catalog)
    s = strategies(texts, ex, tasks.catalog)
    assert s["kept"] + s["dropped"] == sum(len(e.history) for e in ex)
    assert s["preferences"] >= 0


def test_trained_rows_keep_their_own_labels(tmp_path, monkeypatch):
    """Ablations train different models of one verbalizer: each keeps its own compression and
    strategy entries, and the report names a trained component once ("rewrite (trained)")."""
    from toolkit import experiment

    def fake_stage1(self, verbalizer, overrides, label=""):
        return tmp_path / f"model-{experiment._key(overrides)}"

    real_verbalize = experiment.Runner.verbalize

    def fake_verbalize(self, name, model):  # a "trained" rewrite model writes rule-based text
        return real_verbalize(self, "heuristic_rewrite" if model else name, None)

    monkeypatch.setattr(experiment.Runner, "stage1", fake_stage1)
    monkeypatch.setattr(experiment.Runner, "verbalize", fake_verbalize)
    config = ExperimentConfig.model_validate(
        {
            "data": {"options": {"n_users": 20}, "tasks": {"max_history": 8}},
            "eval": {"limit": 10, "reasoners": ["embedding"], "n_boot": 0},
            "rows": [
                {"name": "template", "verbalizer": "template"},
                {"name": "rw", "verbalizer": "rewrite", "train": {}},
                {
                    "name": "rw ranking",
                    "verbalizer": "rewrite",
                    "train": {"rewards": {"kind": "ranking"}},
                },
            ],
        }
    )
    results = run_experiment(config, tmp_path / "out", progress=False)
    assert {"rw", "rw ranking"} <= set(results["strategies"]) and {"rw", "rw ranking"} <= set(
        results["compression"]
    )
    assert [r["verbalizer"] for r in results["rows"]] == ["template", "rewrite", "rewrite"]
    report = (tmp_path / "out" / "report.md").read_text()
    assert "rewrite (trained)" in report and "(trained) (trained)" not in report


def test_a_stage_configuration_trains_once_and_a_finished_run_is_reused(tmp_path):
    from toolkit.experiment import Runner
    from trainers.config import VerbalizerTrainConfig

    calls = []

    def fake_train(config, **kwargs):
        calls.append(config.output_dir)
        (config.output_dir / "final").mkdir(parents=True)
        (config.output_dir / "final" / "vtk.json").write_text("{}")

    config = ExperimentConfig.model_validate({"rows": [{"name": "t"}]})
    args = ("s1-x-1", {}, VerbalizerTrainConfig, fake_train, "verbalizer", "training")
    first = Runner(config, tmp_path, progress=False)
    assert first._train(*args) == tmp_path / "runs" / "s1-x-1" / "final"
    assert first._train(*args) == tmp_path / "runs" / "s1-x-1" / "final"
    assert len(calls) == 1
    resumed = Runner(config, tmp_path, progress=False)  # an interrupted experiment, run again
    resumed._train(*args, "actions (trained)")
    assert len(calls) == 1 and resumed.training[0]["stage"] == "verbalizer"
    # the curve is shown under the row's name and kept under the run's key
    assert resumed.training[0]["name"] == "actions (trained)"
    assert resumed.training[0]["key"] == "s1-x-1"


def test_compare_to_pairs_only_rows_read_by_the_same_reader():
    from types import SimpleNamespace

    from toolkit.experiment import RowSpec, _comparisons

    def result(name, hits):
        outcomes = [SimpleNamespace(hit=h, discovery=True) for h in hits]
        return SimpleNamespace(name=name, outcomes=outcomes)

    start = {"bm25": result("start | bm25", [0, 0, 1, 0]), "llm": result("start", [1, 1, 1, 1])}
    by_reader = {("start", "bm25"): start["bm25"]}
    spec = RowSpec(name="trained", compare_to=["start"])
    mine = result("trained | bm25", [1, 0, 1, 1])
    (cell,) = _comparisons(spec, mine, "bm25", by_reader, n_boot=50, seed=0)
    assert cell["against"] == "start | bm25" and cell["diff"]["value"] == 0.5
    # the other row was never read by the embedding reader: no cell, not a cross-reader one
    assert _comparisons(spec, mine, "embedding", by_reader, n_boot=50, seed=0) == []


def test_a_report_is_written_after_every_row(tmp_path, monkeypatch):
    """A long run can be read (and stopped) mid-way: before each row the rows so far are
    written as a report marked partial; the last one is complete."""
    import toolkit.report as report

    written = []
    real = report.write_report

    def spy(results, out_dir):
        written.append((results["partial"], len(results["rows"])))
        return real(results, out_dir)

    monkeypatch.setattr(report, "write_report", spy)
    config = ExperimentConfig.model_validate(
        {
            "data": {
                "source": "synthetic",
                "options": {"n_users": 20, "history_length": [8, 10]},
                "tasks": {"max_history": 8, "train_per_user": 1},
            },
            "eval": {"limit": 10, "reasoners": ["bm25"], "n_boot": 50},
            "rows": [
                {"name": "popularity", "table": "context", "scorer": "popularity"},
                {"name": "template", "verbalizer": "template"},
                {"name": "heuristic actions", "table": "ours", "verbalizer": "heuristic_actions"},
            ],
        }
    )
    out = run_experiment(config, tmp_path / "run", progress=False)
    assert written == [(True, 1), (True, 2), (False, 3)]
    assert out["partial"] is False
    assert "Partial report" not in (tmp_path / "run" / "report.md").read_text()
