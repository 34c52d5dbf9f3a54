"""``vtk grammars list|show|check`` through ``toolkit.cli.main`` with exit codes."""

from __future__ import annotations

import json

import pytest

from toolkit.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_names_kind_and_engine(capsys):
    code, out, _ = run(capsys, "grammars", "list")
    assert code == 0
    rows = {line.split()[0]: line.split()[1:3] for line in out.splitlines()[1:]}
    assert rows["action_plan"] == ["json_schema", "llguidance"]
    assert rows["rewrite"] == ["json_schema", "llguidance"]
    assert rows["choice"] == ["choice", "outlines_core"]


def test_show_prints_the_constraint_for_a_context(capsys):
    code, out, _ = run(capsys, "grammars", "show", "action_plan", "--n-interactions", "3")
    assert code == 0
    assert "engine      llguidance" in out and '"maxItems": 3' in out
    code, out, _ = run(
        capsys, "grammars", "show", "rewrite", "--raw", "--extra", '{"titles": ["Heat"]}'
    )
    assert code == 0
    assert 't_0: "\\"Heat\\""' in out and out.startswith("start:")  # the Lark grammar
    code, out, _ = run(capsys, "grammars", "show", "rewrite", "--extra", '{"titles": ["Heat"]}')
    assert code == 0 and "kind        cfg" in out
    schema = json.loads(out[out.index("schemas only:") + len("schemas only:") :])
    assert schema["properties"]["aggregated_items"]["items"]["properties"]["title"] == {
        "enum": ["Heat"]
    }


def test_show_unknown_grammar_exits_2(capsys):
    code, _, err = run(capsys, "grammars", "show", "nope")
    assert code == 2 and "unknown grammar 'nope'" in err


def test_show_bad_extra_is_a_usage_error(capsys):
    code, _, err = run(capsys, "grammars", "show", "rewrite", "--extra", "[1")
    assert code == 2 and "--extra" in err


@pytest.fixture
def bad_schema(tmp_path):
    path = tmp_path / "bad.json"
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 1},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        },
    }
    path.write_text(json.dumps(schema))
    return path


def test_check_prints_every_problem_and_exits_1(capsys, bad_schema):
    code, out, _ = run(capsys, "grammars", "check", str(bad_schema), "--engine", "outlines_core")
    assert code == 1
    assert f"{bad_schema}: error: $.properties.n.minimum: keyword 'minimum'" in out
    assert f"{bad_schema}: error: $.properties.tags.uniqueItems:" in out
    assert "warning: $.properties.tags: unbounded: array without maxItems" in out
    assert "FAILED" in out and "2 error(s)" in out


def test_check_ok_file_exits_0_unless_strict_warnings(capsys, tmp_path):
    path = tmp_path / "ok.json"
    path.write_text(json.dumps({"type": "object", "properties": {"s": {"type": "string"}}}))
    code, out, _ = run(capsys, "grammars", "check", str(path))
    assert code == 0
    assert ": ok: json_schema on llguidance, max_tokens 512, 0 error(s), 2 warning(s)" in out
    assert "warning: $.properties.s: unbounded: string without maxLength" in out
    code, out, _ = run(capsys, "grammars", "check", str(path), "--strict")
    assert code == 1


def test_check_the_shipped_rewrite_schema_is_clean(capsys):
    from pathlib import Path

    import grammars

    path = Path(grammars.__file__).parent / "schemas" / "rewrite.json"
    code, out, _ = run(capsys, "grammars", "check", str(path), "--strict")
    assert code == 0 and "0 error(s), 0 warning(s)" in out


def test_check_missing_or_unparsable_file_exits_2(capsys, tmp_path):
    code, _, err = run(capsys, "grammars", "check", str(tmp_path / "nope.json"))
    assert code == 2 and "not found" in err
    broken = tmp_path / "broken.json"
    broken.write_text("{\n")
    code, _, err = run(capsys, "grammars", "check", str(broken))
    assert code == 2 and "broken.json:2" in err


def test_check_lark(capsys, tmp_path):
    good, bad = tmp_path / "g.lark", tmp_path / "b.lark"
    good.write_text('start: "a" | "b"\n')
    bad.write_text("start: nothing_here\n")
    assert run(capsys, "grammars", "check", str(good))[0] == 0
    code, out, _ = run(capsys, "grammars", "check", str(bad))
    assert code == 1 and "invalid Lark grammar" in out
