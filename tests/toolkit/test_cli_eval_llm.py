"""``vtk eval --verbalizer ... --reasoner ...``: LLM rows with every metric and extra."""

from __future__ import annotations

import json

import pytest

from toolkit.cli import main
from toolkit.cli.evaluate import llm_rows
from toolkit.evaluation import MRR, NDCG, RECALL, RECALL_DISCOVERY, RECALL_REPEAT, VALID
from toolkit.sources import read_source
from toolkit.tasks import TaskConfig, TaskSet, prepare_tasks


@pytest.fixture(scope="module")
def tasks_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("tasks") / "syn"
    prepare_tasks(read_source("synthetic", None, n_users=12, seed=5), out, TaskConfig())
    return out


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory, tokenizer, tiny_lm):
    path = tmp_path_factory.mktemp("tiny")
    tiny_lm.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def test_llm_rows_have_the_metric_keys(tasks_dir, tiny_dir):
    from toolkit.episodes import build_episodes

    tasks = TaskSet.load(tasks_dir)
    episodes = build_episodes(tasks.split("test")[:6], window=6)
    rows = llm_rows(
        tasks,
        episodes,
        ["template", "heuristic_rewrite"],
        ["llm"],
        reasoner_model=tiny_dir,
        model=tiny_dir,
        shifts=2,
        batch_size=3,
        n_boot=50,
    )
    assert [r.name for r in rows] == ["template+llm", "heuristic_rewrite+llm"]
    for row in rows:
        assert row.n == 6
        assert {RECALL, RECALL_DISCOVERY, RECALL_REPEAT, NDCG, MRR, VALID} <= set(row.metrics)
        recall = row.metrics[RECALL]
        assert 0 <= recall.lo <= recall.value <= recall.hi <= 1
        assert row.metrics[VALID].value == 1.0  # one-token label answers and rule outputs
        positions = row.extras["positions"]
        assert positions["n"] == 6 and sum(positions["counts"]) == 6
        assert row.extras["position_bias"] in ("ok", "FLAGGED")
        assert row.extras["tokens"] > 0 and row.extras["wall_s"] >= 0
        assert row.extras["window"] == 6 and row.extras["shifts"] == 2
        assert 0 <= row.extras["single_order_recall@1"] <= 1
    assert rows[0].extras["compression"] == 1.0
    assert rows[1].extras["compression"] < 1.0


def test_cli_rows_relative_to_template_and_cached_verbalizations(
    capsys, tasks_dir, tiny_dir, tmp_path
):
    vfile = tmp_path / "v.jsonl"
    assert (
        main(
            [
                "verbalize",
                "--tasks",
                str(tasks_dir),
                "--verbalizer",
                "heuristic_actions",
                "--limit",
                "5",
                "--max-history",
                "6",
                "--model",
                tiny_dir,
                "--out",
                str(vfile),
            ]
        )
        == 0
    )
    # a sentinel text proves eval reads the verbalization file instead of re-verbalizing
    rows = [json.loads(x) for x in vfile.read_text().splitlines()]
    rows[0]["text"] = "SENTINEL"
    vfile.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "eval.json"
    code = main(
        [
            "eval",
            "--tasks",
            str(tasks_dir),
            "--verbalizer",
            "heuristic_actions",
            "--reasoner",
            "llm",
            "--reasoner-model",
            tiny_dir,
            "--model",
            tiny_dir,
            "--verbalizations",
            str(vfile),
            "--limit",
            "5",
            "--max-history",
            "6",
            "--bootstrap",
            "20",
            "--with-baselines",
            "--out",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert "(baseline)" in printed and "popularity" in printed
    doc = json.loads(out.read_text())
    assert doc["baseline"] == "template+llm"
    names = [r["name"] for r in doc["rows"]]
    assert names == [
        "random",
        "popularity",
        "cooccurrence",
        "template+llm",
        "heuristic_actions+llm",
    ]
    row = doc["rows"][-1]
    assert f"change/{RECALL_DISCOVERY}" in row["metrics"]
    assert row["extras"]["positions"]["n"] == 5
    own = doc["rows"][3]["metrics"][f"change/{RECALL_DISCOVERY}"]["value"]
    assert own in (0.0, None)  # None: the baseline's own mean is 0, a ratio is undefined


def test_unknown_baseline_is_a_usage_error(capsys, tasks_dir, tiny_dir):
    code = main(
        [
            "eval",
            "--tasks",
            str(tasks_dir),
            "--verbalizer",
            "template",
            "--reasoner",
            "llm",
            "--reasoner-model",
            tiny_dir,
            "--limit",
            "2",
            "--baseline",
            "nope",
            "--bootstrap",
            "0",
        ]
    )
    assert code == 2 and "nope" in capsys.readouterr().err
