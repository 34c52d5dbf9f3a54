"""``vtk validate`` and ``vtk grammars check`` on files that used to crash or pass."""

from __future__ import annotations

import json

import pytest

from tests.toolkit.bad_input.conftest import assert_error, write


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_validate_empty_file_is_an_error(vtk, tmp_path, content):
    path = write(tmp_path / "out.jsonl", content)
    assert_error(vtk("validate", "--grammar", "action_plan", path), "out.jsonl", "empty")


def test_validate_deeply_nested_line_is_one_invalid_output(vtk, tmp_path):
    deep = "[" * 50_000 + "]" * 50_000
    path = write(tmp_path / "out.jsonl", deep + "\n" + json.dumps({"output": deep}) + "\n")
    result = vtk("validate", "--grammar", "action_plan", path)
    assert result.code == 1 and "Traceback" not in result.err
    assert "out.jsonl:1:" in result.out and "out.jsonl:2:" in result.out
    assert "nested too deeply" in result.out
    assert "0 valid / 2 total" in result.out


def test_validate_not_utf8(vtk, tmp_path):
    path = write(tmp_path / "out.jsonl", b'{"output": "\xff"}\n')
    assert_error(vtk("validate", "--grammar", "action_plan", path), "out.jsonl", "UTF-8")


def test_validate_missing_file(vtk, tmp_path):
    result = vtk("validate", "--grammar", "action_plan", tmp_path / "nope.jsonl")
    assert_error(result, "nope.jsonl", "not found")


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"max_tokens": "big"}, "x-vtk.max_tokens"),
        ({"max_tokens": True}, "x-vtk.max_tokens"),
        ({"max_tokens": 0}, "x-vtk.max_tokens"),
        ({"engine": ["xgrammar"]}, "x-vtk.engine"),
        ({"description": 7}, "x-vtk.description"),
    ],
)
def test_grammars_check_wrong_x_vtk_types(vtk, tmp_path, settings, field):
    path = write(tmp_path / "g.json", json.dumps({"type": "string", "x-vtk": settings}))
    assert_error(vtk("grammars", "check", path), "g.json", f"field '{field}'")


def test_grammars_check_deeply_nested_schema(vtk, tmp_path):
    path = write(tmp_path / "g.json", '{"type": ' + "[" * 3000 + "]" * 3000 + "}")
    assert_error(vtk("grammars", "check", path), "g.json", "nested deeper")


def test_grammars_check_not_utf8(vtk, tmp_path):
    path = write(tmp_path / "g.json", b'{"type": "string", "title": "\xff"}')
    assert_error(vtk("grammars", "check", path), "g.json", "UTF-8")


@pytest.mark.parametrize("command", ["validate", "show"])
def test_every_command_loading_a_schema_file_checks_it(vtk, tmp_path, command):
    schema = write(
        tmp_path / "g.json", json.dumps({"type": "string", "x-vtk": {"max_tokens": "x"}})
    )
    outputs = write(tmp_path / "out.jsonl", '"a"\n')
    args = (
        ["validate", "--grammar", schema, outputs]
        if command == "validate"
        else ["grammars", "show", schema]
    )
    assert_error(vtk(*args), "g.json", "field 'x-vtk.max_tokens'")
