"""``vtk data prepare|stats|sources`` and ``vtk eval`` through ``toolkit.cli.main``.

A small JSONL source registered here keeps these tests independent of the shipped
readers while exercising the same path: source -> ErrorPolicy -> tasks -> files.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.toolkit.test_tasks import make_dataset
from toolkit.cli import main
from toolkit.io import read_jsonl
from toolkit.records import Catalog, Dataset, History, Interaction, Item
from toolkit.sources.base import SOURCES, ErrorPolicy, Source


@SOURCES.register("test-jsonl", replace=True)
class JsonlSource(Source):
    """Test source: log.jsonl rows {user, item, ts, event}, items.jsonl rows {id, title}."""

    name = "test-jsonl"

    def read(self, path: Path, *, on_error: Any = "raise", **options: Any) -> Dataset:
        policy = ErrorPolicy(on_error)
        logs: dict[str, list[Interaction]] = defaultdict(list)
        file = path / "log.jsonl"
        for lineno, row in read_jsonl(file):
            missing = [k for k in ("user", "item", "ts", "event") if k not in row]
            if missing:
                policy.report("missing", file, lineno, missing[0])
                continue
            if not isinstance(row["ts"], int):
                policy.report(f"not a unix time: {row['ts']!r}", file, lineno, "ts")
                continue
            x = Interaction(
                timestamp=datetime.fromtimestamp(row["ts"]),
                item_id=row["item"],
                event=row["event"],
                attrs=row.get("attrs", {}),
            )
            logs[row["user"]].append(x)
        catalog = Catalog(
            Item(item_id=r["id"], title=r["title"]) for _, r in read_jsonl(path / "items.jsonl")
        )
        histories = [History(user_id=u, interactions=tuple(x)) for u, x in logs.items()]
        return Dataset(
            name=options.get("name", "test-jsonl"),
            histories=histories,
            catalog=catalog,
            skipped=dict(policy.skipped),
        )


def write_source(folder: Path, bad_line: int | None = None) -> Path:
    folder.mkdir()
    ds = make_dataset(n_users=25)
    rows = [
        {
            "user": h.user_id,
            "item": x.item_id,
            "ts": int(x.timestamp.timestamp()),
            "event": x.event,
            "attrs": x.attrs,
        }
        for h in ds.histories
        for x in h.interactions
    ]
    if bad_line is not None:
        rows[bad_line - 1]["ts"] = "yesterday"
    with (folder / "log.jsonl").open("w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    with (folder / "items.jsonl").open("w") as fh:
        fh.writelines(json.dumps({"id": i.item_id, "title": i.title}) + "\n" for i in ds.catalog)
    return folder


@pytest.fixture
def source(tmp_path) -> Path:
    return write_source(tmp_path / "src")


@pytest.fixture
def tasks(source, tmp_path) -> Path:
    out = tmp_path / "tasks"
    assert main(["data", "prepare", "test-jsonl", "--path", str(source), "--out", str(out)]) == 0
    return out


def test_prepare_writes_the_task_directory(source, tmp_path, capsys):
    out = tmp_path / "t"
    args = ["data", "prepare", "test-jsonl", "--path", str(source), "--out", str(out)]
    rc = main([*args, "--seed", "7", "--negatives", "uniform", "--train-per-user", "2"])
    assert rc == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir() if p.name != ".vtk-written") == [
        "catalog.jsonl",
        "meta.json",
        "test.jsonl",
        "train.jsonl",
        "val.jsonl",
    ]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["config"]["seed"] == 7 and meta["config"]["negatives"] == "uniform"
    assert meta["counts"]["test"] == 25 and meta["counts"]["train"] <= 50
    assert meta["source"] == "test-jsonl"


def test_prepare_source_options_and_config_file(source, tmp_path):
    config = tmp_path / "tasks.yaml"
    config.write_text("seed: 5\nmax_history: 4\n")
    out = tmp_path / "t"
    args = ["data", "prepare", "test-jsonl", "--path", str(source), "--out", str(out)]
    assert main([*args, "--config", str(config), "--seed", "6", "-O", "name=renamed"]) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["config"]["seed"] == 6 and meta["config"]["max_history"] == 4
    assert meta["source"] == "renamed"


def test_bad_input_names_file_line_and_field(tmp_path, capsys):
    source = write_source(tmp_path / "src", bad_line=3)
    out = tmp_path / "t"
    args = ["data", "prepare", "test-jsonl", "--path", str(source), "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "log.jsonl:3: field 'ts': not a unix time: 'yesterday'" in err
    assert not out.exists()
    assert main([*args, "--on-error", "skip"]) == 0
    err = capsys.readouterr().err
    assert "skipped 1 row(s)" in err and "not a unix time" in err
    assert json.loads((out / "meta.json").read_text())["skipped"]


def test_prepare_refuses_bad_options_and_existing_output(source, tasks, capsys):
    args = ["data", "prepare", "test-jsonl", "--path", str(source), "--out", str(tasks)]
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite", "--seed", "1"]) == 0
    assert json.loads((tasks / "meta.json").read_text())["config"]["seed"] == 1
    assert main([*args, "--overwrite", "--n-candidates", "1"]) == 2
    assert "--n-candidates" in capsys.readouterr().err
    assert main(["data", "prepare", "no-such-source", "--out", str(tasks)]) == 2


def test_stats(tasks, capsys):
    assert main(["data", "stats", str(tasks)]) == 0
    out = capsys.readouterr().out
    assert "test" in out and "discovery" in out
    assert main(["data", "stats", str(tasks), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["splits"]["test"]["examples"] == 25
    assert 0 < info["splits"]["test"]["discovery_share"] < 1


def test_stats_of_a_broken_directory(tasks, tmp_path, capsys):
    assert main(["data", "stats", str(tmp_path / "missing")]) == 2
    assert "task directory not found" in capsys.readouterr().err
    with (tasks / "test.jsonl").open("a") as fh:
        fh.write("{not json\n")
    assert main(["data", "stats", str(tasks)]) == 2
    assert "test.jsonl:26: invalid JSON" in capsys.readouterr().err


def test_sources_lists_registered_readers(capsys):
    assert main(["data", "sources"]) == 0
    assert "test-jsonl" in capsys.readouterr().out


def test_eval_prints_and_writes_rows(tasks, tmp_path, capsys):
    out = tmp_path / "eval.json"
    args = ["eval", "--tasks", str(tasks), "--baseline", "random", "--out", str(out)]
    assert main([*args, "--bootstrap", "200"]) == 0
    text = capsys.readouterr().out
    assert "(baseline)" in text and "cooccurrence" in text
    doc = json.loads(out.read_text())
    assert [r["name"] for r in doc["rows"]] == ["random", "popularity", "cooccurrence"]
    assert doc["split"] == "test" and doc["baseline"] == "random"
    for row in doc["rows"]:
        assert row["n"] == 25
        recall = row["metrics"]["recall@1"]
        assert recall["lo"] <= recall["value"] <= recall["hi"]
        assert "change/recall@1/discovery" in row["metrics"]
    assert main(["eval", "--tasks", str(tasks), "--baseline", "popularity", "--limit", "5"]) == 0


def test_eval_errors(tasks, tmp_path, capsys):
    assert main(["eval", "--tasks", str(tasks), "--baseline", "template"]) == 2
    assert "rows: random, popularity, cooccurrence" in capsys.readouterr().err
    assert main(["eval", "--tasks", str(tmp_path / "none")]) == 2
