"""The report: every row appears, verdicts follow the intervals, plots are real PNGs."""

from __future__ import annotations

import copy
import json
import re

import pytest

from toolkit import report
from toolkit.report import fmt_ci, summary_lines, verdict, write_report


def _metric(value, lo=None, hi=None, n=100):
    return {"value": value, "lo": lo, "hi": hi, "n": n}


def _row(name, table, value, change=None, trained=None, baseline="template", positions=None):
    trained = trained or {"verbalizer": None, "reasoner": None}
    return {
        "name": name,
        "table": table,
        "verbalizer": name.split("+")[0],
        "reasoner": "smollm",
        "trained": trained,
        "metrics": {
            "recall@1": _metric(value + 0.05, value, value + 0.1),
            "recall@1/discovery": _metric(value, value - 0.04, value + 0.04),
            "recall@1/repeat": _metric(None, n=0),
            "ndcg@10": _metric(0.4),
            "mrr": _metric(0.3),
            "valid": _metric(0.98),
        },
        "change": change,
        "baseline": baseline if change else None,
        "extras": {
            "compression": 0.42,
            "tokens": 120.0,
            "wall_s": 75.0,
            "valid_rate": 0.98,
            "positions": positions,
        },
    }


FLAGGED = {
    "counts": [40.0, 5.0, 5.0, 0.0],
    "max_share": 0.8,
    "flagged": True,
    "reasons": ["position 0 takes 80% of picks"],
}
UNIFORM = {"counts": [10, 10, 10, 10], "max_share": 0.25, "flagged": False, "reasons": []}
LEARNED_V = {"verbalizer": "grpo", "reasoner": None}


@pytest.fixture()
def results():
    return {
        "name": "unit",
        "config_path": "configs/unit.yaml",
        "machine": "2-core CPU, torch 2.13.0+cpu",
        "started": "2025-01-01T00:00:00",
        "wall_s": 125.0,
        "data": {"source": "ml-100k", "n_eval": 200, "split": "last", "max_history": 50},
        "rows": [
            _row("template", "1", 0.20, positions=UNIFORM),
            _row("learned_up", "1", 0.30, _metric(0.5, 0.1, 0.9), LEARNED_V, positions=FLAGGED),
            _row("learned_flat", "2", 0.21, _metric(0.05, -0.1, 0.2), LEARNED_V),
            _row(
                "learned_down",
                "ours",
                0.10,
                _metric(-0.5, -0.7, -0.2),
                {"verbalizer": None, "reasoner": "grpo"},
            ),
            _row("popularity", "context", 0.15),
        ],
        "training": [
            {
                "name": "verb-grpo",
                "stage": "verbalizer",
                "curve": [
                    {"step": s, "reward": 0.1 * s, "accuracy": 0.05 * s, "compression": 0.5}
                    for s in range(5)
                ],
            },
            {
                "name": "reas-grpo",
                "stage": "reasoner",
                "curve": [
                    {"step": s, "reward": 0.2 * s or None, "accuracy": None} for s in range(4)
                ],
            },
        ],
        "compression": {"learned_up": [0.3, 0.4, 0.5, 0.45, 0.35, 0.6], "template": []},
        "examples": [
            {
                "example_id": "u1:7",
                "raw": "line one | with pipe\nline two " + "x" * 500,
                "outputs": {"template": "Watched A\nWatched B", "learned_up": "Likes comedies."},
            }
        ],
        "strategies": {
            "learned_up": {
                "dropped": 12,
                "kept": 30,
                "aggregated_runs": 3,
                "enriched_fields": {"genre": 7},
                "preferences": 2,
                "noise_drop_rate": 0.6,
                "signal_drop_rate": 0.1,
            },
            "learned_flat": {
                "dropped": 1,
                "kept": 40,
                "aggregated_runs": 0,
                "enriched_fields": {},
                "preferences": 0,
                "noise_drop_rate": 0.05,
                "signal_drop_rate": 0.2,
            },
        },
        "notes": ["a note about the run"],
    }


def _section(md: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", md, re.S | re.M)
    assert match, f"section {title!r} missing"
    return match.group(1)


def test_writes_all_files(tmp_path, results):
    (tmp_path / "other.txt").write_text("keep me")
    path = write_report(results, tmp_path)
    assert path == tmp_path / "report.md"
    assert json.loads((tmp_path / "report.json").read_text()) == results
    assert (tmp_path / "other.txt").read_text() == "keep me"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp leftovers
    from PIL import Image

    for name in ("training_curves.png", "compression_hist.png", "recall_bars.png"):
        with Image.open(tmp_path / name) as img:
            assert img.format == "PNG" and img.width > 100 and img.height > 100
        assert f"({name})" in path.read_text()


def test_tables_list_every_row_with_intervals(tmp_path, results):
    md = write_report(results, tmp_path).read_text()
    assert md.startswith("# Experiment report: unit")
    assert "2-core CPU" in md and "ml-100k" in md and "200 evaluation examples" in md
    assert "2m 05s" in md
    for title, names in [
        ("Table 1", ["template", "learned_up"]),
        ("Table 2", ["learned_flat"]),
        ("Our rows", ["learned_down"]),
        ("Context (non-LLM baselines)", ["popularity"]),
    ]:
        section = _section(md, title)
        for name in names:
            assert f"| {name} |" in section
    table1 = _section(md, "Table 1")
    assert "0.300 [0.260, 0.340]" in table1  # discovery with CI
    assert "+50.0% [+10.0%, +90.0%] vs template" in table1  # change with CI
    assert "learned_up (trained)" in table1
    assert "| 98% |" in table1 and "| 1m 15s |" in table1


def test_honesty_verdicts_follow_the_numbers(tmp_path, results):
    honesty = _section(write_report(results, tmp_path).read_text(), "Honesty")
    lines = {ln.split("`")[1]: ln for ln in honesty.splitlines() if ln.startswith("- ")}
    assert set(lines) == {"learned_up", "learned_flat", "learned_down"}  # trained rows only
    assert "**beat**" in lines["learned_up"]
    assert "**indistinguishable**" in lines["learned_flat"]
    assert "**worse**" in lines["learned_down"] and "trained reasoner" in lines["learned_down"]

    # flip the numbers: the verdicts flip with them (nothing is hard-coded)
    flipped = copy.deepcopy(results)
    flipped["rows"][1]["change"] = _metric(-0.5, -0.9, -0.1)
    honesty = _section(write_report(flipped, tmp_path).read_text(), "Honesty")
    assert "**worse**" in next(ln for ln in honesty.splitlines() if "`learned_up`" in ln)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_metric(0.1, 0.01, 0.2), "beat"),
        (_metric(0.1, -0.01, 0.2), "indistinguishable"),
        (_metric(-0.1, -0.2, -0.01), "worse"),
        (_metric(0.1), "untested"),
        (None, "untested"),
    ],
)
def test_verdict(change, expected):
    assert verdict(change) == expected


def test_ci_formatting_and_missing_values(tmp_path, results):
    assert fmt_ci(_metric(0.31234, 0.2, 0.4)) == "0.312 [0.200, 0.400]"
    assert fmt_ci(_metric(-0.05, -0.1, 0.0), pct=True) == "-5.0% [-10.0%, +0.0%]"
    assert fmt_ci(_metric(None)) == "–" and fmt_ci(None) == "–"
    results["rows"][0]["metrics"]["recall@1/discovery"] = _metric(None, n=0)
    results["rows"][0]["extras"].update(compression=None, tokens=None)
    table1 = _section(write_report(results, tmp_path).read_text(), "Table 1")
    template = next(ln for ln in table1.splitlines() if ln.startswith("| template |"))
    cells = [c.strip() for c in template.strip("|").split("|")]
    assert cells[3:5] == ["–", "–"] and cells[7:9] == ["–", "–"]  # discovery, change, comp., tokens


def test_position_bias_section(tmp_path, results):
    section = _section(write_report(results, tmp_path).read_text(), "Position bias")
    up = next(ln for ln in section.splitlines() if ln.startswith("| learned_up |"))
    assert "0:80% 1:10% 2:10% 3:0%" in up and "**flagged**" in up and "position 0" in up
    template = next(ln for ln in section.splitlines() if ln.startswith("| template |"))
    assert template.endswith("| ok |")
    assert "| learned_flat |" not in section  # no statistics recorded for it


def test_strategies_section(tmp_path, results):
    section = _section(write_report(results, tmp_path).read_text(), "Strategies")
    assert "| learned_up | 12 | 30 | 3 | genre (7) | 2 | 60% | 10% |" in section
    assert "`learned_up` drops noise more often than signal: yes" in section
    assert "`learned_flat` drops noise more often than signal: no" in section


def test_examples_are_escaped_and_truncated(tmp_path, results):
    section = _section(write_report(results, tmp_path).read_text(), "Examples")
    rows = [ln for ln in section.splitlines() if ln.startswith("| u1:7 |")]
    assert len(rows) == 1  # newlines inside cells did not break the row
    row = rows[0]
    assert "line one \\| with pipe<br>line two" in row
    assert "Watched A<br>Watched B" in row and "Likes comedies." in row
    assert "…" in row and "x" * 500 not in row
    assert "| Example | Raw history (excerpt) | template | learned_up |" in section


def test_empty_sections_are_skipped(tmp_path, results):
    for name in ("training_curves.png", "compression_hist.png"):
        (tmp_path / name).write_bytes(b"stale")
    results.update(training=[], compression={}, examples=[], strategies={}, notes=[])
    md = write_report(results, tmp_path).read_text()
    assert not (tmp_path / "training_curves.png").exists()
    assert not (tmp_path / "compression_hist.png").exists()
    assert (tmp_path / "recall_bars.png").exists()
    assert "training_curves" not in md and "## Examples" not in md and "## Strategies" not in md
    for row in results["rows"]:
        row["trained"] = {"verbalizer": None, "reasoner": None}
        row["extras"]["positions"] = None
    md = write_report(results, tmp_path).read_text()
    assert "No row has a trained component." in md
    assert "No position statistics were recorded." in md


def test_summary_lines(tmp_path, results):
    path = write_report(results, tmp_path)
    lines = summary_lines(results, path)
    assert lines[0].startswith("best learned row: learned_up")
    assert "vs template 0.200 [0.160, 0.240]" in lines[0]
    assert lines[1] == "change +50.0% [+10.0%, +90.0%]: beat"
    assert lines[-1] == f"report: {path}"


def test_plot_functions_skip_empty_data(tmp_path):
    assert report.plot_training([], tmp_path / "a.png") is None
    assert report.plot_compression({"x": []}, tmp_path / "b.png") is None
    assert report.plot_recall([], tmp_path / "c.png") is None
    assert not list(tmp_path.iterdir())


def test_a_row_read_by_its_training_oracle_is_labelled_and_gets_no_verdict(tmp_path):
    """Regression (issue 11): a Stage 1 verbalizer scored by the embedding oracle it was
    trained against was reported with a "beat" verdict like any held-out reader."""
    from toolkit.report import write_report

    def row(name, reasoner, oracle, verdict):
        return {
            "name": name, "table": "1", "verbalizer": "rewrite", "reasoner": reasoner,
            "trained": {"verbalizer": "/m", "reasoner": None},
            "metrics": {"recall@1/discovery": {"value": 0.3, "lo": 0.2, "hi": 0.4, "n": 50}},
            "change": {"value": 0.5, "lo": 0.1, "hi": 0.9, "n": 50}, "baseline": "template",
            "comparison": {"verdict": verdict, "p_value": 0.01, "change_defined": True},
            "extras": {"oracle": oracle},
        }  # fmt: skip

    results = {
        "name": "t",
        "rows": [
            row("rewrite | bm25", "bm25", False, "no difference"),
            row("rewrite | embedding", "embedding", True, "beats"),
        ],
    }
    text = write_report(results, tmp_path).read_text()
    assert "embedding, oracle (trained against)" in text
    honesty = text.split("## Honesty")[1].split("##")[0]
    assert "`rewrite | bm25` (trained verbalizer) is **indistinguishable**" in honesty
    assert "`rewrite | embedding`" in honesty and "not a verdict" in honesty
    assert "**beat**" not in honesty


def test_training_plot_shows_compression_and_noise_signal_panels(tmp_path):
    import matplotlib.image

    curve = [
        {"step": s, "reward": 0.1 * s, "accuracy": 0.2, "verbalizer/compression": 0.9 - 0.1 * s,
         "verbalizer/noise_dropped": 0.2 * s, "verbalizer/signal_dropped": 0.05}
        for s in (1, 2, 3)
    ]  # fmt: skip
    reasoner = [{"step": 1, "reward": 0.0, "accuracy": 0.5}]
    training = [
        {"name": "actions", "stage": "verbalizer", "curve": curve},
        {"name": "r", "stage": "reasoner", "curve": reasoner},
    ]
    wide = report.plot_training(training, tmp_path / "a.png")
    narrow = report.plot_training(training[1:], tmp_path / "b.png")
    # three panels for Stage 1 (reward, compression, noise/signal), one for Stage 2
    h_wide, w_wide = matplotlib.image.imread(wide).shape[:2]
    h_narrow, w_narrow = matplotlib.image.imread(narrow).shape[:2]
    assert w_wide > 2.5 * w_narrow and h_wide > 1.5 * h_narrow
