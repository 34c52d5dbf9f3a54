"""``vtk validate --grammar NAME FILE``: every error as FILE:LINE: $.path: message, a summary,
exit 1 when any output is invalid and 2 when the input cannot be read."""

from __future__ import annotations

import json

from toolkit.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def row(output: str, **context) -> str:
    return json.dumps({"example_id": "e1", "output": output, "context": context})


def test_rows_and_bare_outputs(capsys, tmp_path):
    path = tmp_path / "plans.jsonl"
    path.write_text(
        "\n".join(
            [
                row('["keep","drop","enrich"]', n_interactions=3, domain="streaming"),
                row('["keep","drop","zap","keep"]', n_interactions=3),
                '["keep", "drop"]',
                '["keep","dr',
                "",
                json.dumps({"output": '["keep"]'}),
            ]
        )
        + "\n"
    )
    code, out, _ = run(capsys, "validate", "--grammar", "action_plan", str(path))
    assert code == 1
    lines = out.splitlines()
    assert lines[:3] == [
        f"{path}:2: $: expected exactly 3 items, got 4",
        f'{path}:2: $[2]: "zap" is not one of: "drop", "enrich", "keep", "liked", "series", "tags"',
        f"{path}:4: $: invalid JSON: the output ends before the value is complete "
        "(cut at the token budget?)",
    ]
    assert lines[-1] == "3 valid / 5 total (2 invalid) under grammar action_plan"


def test_all_valid_exits_0(capsys, tmp_path):
    path = tmp_path / "answers.jsonl"
    path.write_text("A\nJ\n" + row("C", n_candidates=3) + "\n")
    code, out, _ = run(capsys, "validate", "--grammar", "choice", str(path))
    assert code == 0 and out.strip() == "3 valid / 3 total (0 invalid) under grammar choice"


def test_context_decides_validity(capsys, tmp_path):
    path = tmp_path / "answers.jsonl"
    path.write_text(row("E", n_candidates=4) + "\n")
    code, out, _ = run(capsys, "validate", "--grammar", "choice", str(path))
    assert code == 1 and f"{path}:1: $: expected one of A, B, C, D, got 'E'" in out


def test_rewrite_paths_and_titles_from_context(capsys, tmp_path):
    good = {
        "summary": "Crime fan.",
        "aggregated_items": [{"title": "Heat", "count": 2, "signal": "liked"}],
        "preferences": [],
    }
    bad = {**good, "aggregated_items": [{"title": "Heat", "count": 0, "signal": "liked"}] * 2}
    extra = {"titles": ["Heat"], "aspects": ["Crime"]}
    path = tmp_path / "rewrites.jsonl"
    path.write_text(
        row(json.dumps(good), extra=extra) + "\n" + row(json.dumps(bad), extra=extra) + "\n"
    )
    code, out, _ = run(capsys, "validate", "--grammar", "rewrite", str(path))
    assert code == 1
    assert f"{path}:2: $.aggregated_items[0].count: 0 is less than the minimum of 1" in out
    assert f"{path}:2: $.aggregated_items[1].count: 0 is less than the minimum of 1" in out
    assert "1 valid / 2 total" in out


def test_quiet_prints_only_the_summary(capsys, tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text("Z\n")
    code, out, _ = run(capsys, "validate", "--grammar", "choice", "--quiet", str(path))
    assert code == 1 and out.strip() == "0 valid / 1 total (1 invalid) under grammar choice"


def test_grammar_file(capsys, tmp_path):
    schema = tmp_path / "label.json"
    schema.write_text(json.dumps({"enum": ["spam", "ham"]}))
    path = tmp_path / "labels.jsonl"
    path.write_text('"spam"\n"eggs"\n')
    code, out, _ = run(capsys, "validate", "--grammar", str(schema), str(path))
    assert code == 1 and f'{path}:2: $: "eggs" is not one of: "spam", "ham"' in out


def test_unreadable_input_exits_2(capsys, tmp_path):
    code, _, err = run(capsys, "validate", "--grammar", "choice", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "file not found" in err
    binary = tmp_path / "bin.jsonl"
    binary.write_bytes(b"\xff\xfe\x00")
    code, _, err = run(capsys, "validate", "--grammar", "choice", str(binary))
    assert code == 2 and "not UTF-8" in err


def test_bad_context_names_file_line_and_field(capsys, tmp_path):
    path = tmp_path / "plans.jsonl"
    path.write_text(row("[]", n_interactions=0) + "\n" + row("[]", n_interactions="3") + "\n")
    code, _, err = run(capsys, "validate", "--grammar", "action_plan", str(path))
    assert code == 2 and f"{path}:2: field 'context.n_interactions'" in err
    path.write_text(row("[]", n_items=3) + "\n")
    code, _, err = run(capsys, "validate", "--grammar", "action_plan", str(path))
    assert code == 2 and "context.n_items" in err and "unknown field" in err


def test_unknown_grammar_exits_2(capsys, tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text("A\n")
    code, _, err = run(capsys, "validate", "--grammar", "nope", str(path))
    assert code == 2 and "unknown grammar" in err
