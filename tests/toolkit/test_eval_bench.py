"""benchmarks/eval_bench.py: an LLM verbalization's row is carried between machines by its
archive without its text (a summary and every reader's answer, keyed by the row's content
key), and a fresh machine scores it the same without generating it again."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from toolkit.cache import ContentStore
from toolkit.sources import read_source
from toolkit.tasks import TaskConfig, prepare_tasks

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "eval_bench.py"
sys.path.insert(0, str(REPO / "benchmarks"))

import eval_bench  # noqa: E402


def run(*args):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def rows_by_name(report: Path) -> dict[str, dict]:
    return {r["name"]: r for r in json.loads(report.read_text())["rows"]}


def test_a_summary_stands_for_a_row_without_text(tmp_path):
    from toolkit.episodes import build_episodes
    from toolkit.tasks import TaskSet
    from toolkit.verbalize import build_verbalizer

    out = tmp_path / "syn"
    prepare_tasks(read_source("synthetic", None, n_users=4, seed=3), out, TaskConfig())
    tasks = TaskSet.load(out)
    episodes = build_episodes(tasks.split("test")[:3], window=6)
    store = ContentStore(tmp_path / "cache")
    verbalizer = build_verbalizer("template", domain=tasks.domain)
    keys, rows = eval_bench.cached_rows(store, verbalizer, episodes, tasks.catalog, 6)
    assert rows == [None, None, None]
    store.put(eval_bench.summary_key(keys[1]), {"valid": True, "compression": 0.5})
    keys_again, rows = eval_bench.cached_rows(store, verbalizer, episodes, tasks.catalog, 6)
    assert keys_again == keys
    assert rows == [None, {"valid": True, "compression": 0.5, "text": None}, None]
    reader = {"reader": "bm25"}
    order = episodes[1].order
    assert eval_bench.row_answer_key(reader, keys[1], order) != eval_bench.row_answer_key(
        reader, keys[1], tuple(reversed(order))
    )
    assert eval_bench.row_answer_key(reader, keys[1], order) != eval_bench.row_answer_key(
        {"reader": "embedding"}, keys[1], order
    )


@pytest.mark.embedded
def test_zero_shot_rows_score_the_same_from_the_archive_alone(tmp_path):
    tasks = tmp_path / "syn"
    prepare_tasks(read_source("synthetic", None, n_users=4, seed=3), tasks, TaskConfig())
    archive = tmp_path / "answers.jsonl.gz"
    common = [tasks, "--verbalizers", "template,zero_shot", "--readers", "bm25"]
    common += ["--limit", 2, "--max-history", 6, "--archive", archive, "--n-boot", 50]
    run(*common, "--cache", tmp_path / "c1")
    run(*common, "--cache", tmp_path / "c1", "--report", tmp_path / "r1.json")
    with gzip.open(archive, "rt") as fh:
        entries = [json.loads(line)["value"] for line in fh]
    assert entries and all("text" not in value for value in entries)  # no data set text

    # a fresh machine: the archive alone; computing finds nothing to generate, the report agrees
    log = run(*common, "--cache", tmp_path / "c2")
    assert "zero_shot: 2/2 verbalizations" in log
    texts = [json.loads(f.read_text())["value"] for f in (tmp_path / "c2").rglob("*.json")]
    assert not any(v.get("verbalizer") == "zero_shot" for v in texts)  # nothing regenerated
    run(*common, "--cache", tmp_path / "c2", "--report", tmp_path / "r2.json")
    first, again = rows_by_name(tmp_path / "r1.json"), rows_by_name(tmp_path / "r2.json")
    assert first["zero_shot+bm25"]["n"] == again["zero_shot+bm25"]["n"] == 2
    assert first["zero_shot+bm25"]["recall@1"] == again["zero_shot+bm25"]["recall@1"]
    assert first["zero_shot+bm25"]["compression"] == again["zero_shot+bm25"]["compression"]
    # a report straight from the archive on a third machine: the cheap readers read the
    # rule-based rows there and then
    run(*common, "--cache", tmp_path / "c3", "--report", tmp_path / "r3.json")
    third = rows_by_name(tmp_path / "r3.json")
    for name in ("template+bm25", "zero_shot+bm25"):
        assert third[name]["n"] == 2
        assert third[name]["recall@1"] == first[name]["recall@1"]


def test_rewriting_the_archive_never_drops_what_it_holds(tmp_path):
    from toolkit.cache import content_key

    def entries(archive):
        with gzip.open(archive, "rt") as fh:
            return {json.loads(line)["key"] for line in fh}

    a, b, c = (content_key(n=n) for n in "abc")
    one, other = ContentStore(tmp_path / "one"), ContentStore(tmp_path / "other")
    one.put(a, {"v": 1})
    one.put(b, {"v": 2})
    other.put(c, {"v": 3})
    archive = tmp_path / "archive.jsonl.gz"
    assert eval_bench.rewrite_archive(one, archive, [a]) == 1
    assert eval_bench.rewrite_archive(one, archive, [b]) == 2  # a run asking for fewer rows
    assert eval_bench.rewrite_archive(other, archive, [c]) == 3  # a process on another cache
    assert entries(archive) == {a, b, c}
    assert other.get(a) == {"v": 1}  # read back into the store that rewrote it
