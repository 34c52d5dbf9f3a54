"""benchmarks/plan_agreement.py: per-line agreement of trained plans with their teacher,
one line per set of student weights."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from toolkit.cache import ContentStore, content_key

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "plan_agreement.py"


def put(store, verbalizer, example, codes, weights=None):
    row = {"verbalizer": verbalizer, "example_id": example, "grammar": "action_plan"}
    row["meta"] = {"codes": codes}
    if weights is not None:
        row["weights"] = weights
    store.put(content_key(v=verbalizer, e=example, w=weights), row)


def run(out, *args):
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(out), *args], capture_output=True, text=True
    )


def test_two_trained_rows_of_one_name_are_reported_apart(tmp_path):
    store = ContentStore(tmp_path / "cache")
    for ex in ("u1", "u2"):
        put(store, "heuristic_actions", ex, ["liked", "enrich"])
        put(store, "actions", ex, ["liked", "enrich"], weights="aaaa")  # copies the teacher
        put(store, "actions", ex, ["liked", "liked"], weights="bbbb")  # half of it
    done = run(tmp_path, "--student", "actions")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "| actions (weights aaaa) vs heuristic_actions | 2 plans | 4 lines" in lines[0]
    assert lines[0].endswith("agreement 1.000 |")
    bbbb = next(line for line in lines if "weights bbbb" in line)
    assert bbbb.endswith("agreement 0.500 |")
    assert "| teacher enrich | 2 lines | liked 1.00 |" in lines


def test_no_shared_example_is_one_message(tmp_path):
    store = ContentStore(tmp_path / "cache")
    put(store, "heuristic_actions", "u1", ["liked"])
    put(store, "actions", "u2", ["liked"], weights="aaaa")
    done = run(tmp_path, "--student", "actions")
    assert done.returncode != 0 and "no example has both" in done.stderr
    assert "Traceback" not in done.stderr
