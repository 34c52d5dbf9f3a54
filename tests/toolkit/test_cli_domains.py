"""``vtk domains list | show | check | reference`` and ``vtk validate --schema``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actions.domains.folder import PATH_VARIABLE
from toolkit.cli import main

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "examples" / "tutorial-domain"
REFERENCE = ROOT / "docs" / "reference" / "domains.md"


pytestmark = pytest.mark.usefixtures("no_folder_domains")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_built_ins_and_folders_on_the_path(capsys, monkeypatch):
    code, out, _ = run(capsys, "domains", "list")
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()[1:]]
    assert {"ecommerce", "healthcare", "streaming"} <= set(names)  # (+ tests' own domains)
    assert "bookshop" not in names
    assert "clinical_summary" in out
    monkeypatch.setenv(PATH_VARIABLE, str(TUTORIAL))
    code, out, _ = run(capsys, "domains", "list")
    assert code == 0 and "bookshop/reading_profile" in out
    assert str(TUTORIAL / "bookshop") in out


def test_show_prints_everything_a_domain_defines(capsys):
    code, out, _ = run(capsys, "domains", "show", "healthcare")
    assert code == 0
    assert "critical    event allergy" in out
    assert "critical    event medication, active=yes" in out
    assert "grammar     rewrite: clinical_summary" in out
    assert "prompt      rewrite:" in out and "healthcare/rewrite.j2" in out
    code, out, _ = run(capsys, "domains", "show", str(TUTORIAL / "bookshop"))
    assert code == 0 and "same_author: merge with neighbouring lines of the same author" in out
    code, _, err = run(capsys, "domains", "show", "nope")
    assert code == 2 and "unknown action domain 'nope'" in err


def test_check_passes_the_tutorial_folder(capsys):
    code, out, _ = run(capsys, "domains", "check", str(TUTORIAL / "bookshop"))
    assert code == 0, out
    assert "ok: domain bookshop, 4 file(s) checked, 0 error(s)" in out


def test_check_reports_every_problem_at_once(capsys, tmp_path):
    folder = tmp_path / "shop"
    (folder / "grammars").mkdir(parents=True)
    (folder / "prompts").mkdir()
    (folder / "domain.yaml").write_text(
        "name: shop\n"
        "codes:\n"
        "  keep: [keep]\n"
        "  zap: [explode]\n"
        "  skip: [drop]\n"
        "enrich_fields: [brand]\n"
        "noise:\n"
        "  - {fields: {colour: red}}\n",
        encoding="utf-8",
    )
    (folder / "grammars" / "open.json").write_text(
        json.dumps(
            {
                "type": "object",
                "properties": {"note": {"type": "string"}},
                "required": ["note"],
                "additionalProperties": False,
            }
        )
    )
    (folder / "prompts" / "rewrite.j2").write_text("{{ history }}\n{{ customer_name }}\n")
    (folder / "prompts" / "actions.j2").write_text("Pick a code per line.\n{{ lines }}\n")
    code, out, _ = run(capsys, "domains", "check", str(folder))
    assert code == 1
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    text = "\n".join(errors)
    assert "domain.yaml:4: codes.zap.0: unknown term 'explode'" in text
    assert "domain.yaml:8: noise.0.fields.colour: unknown field 'colour'" in text
    assert "open.json: $.properties.note: unbounded: string without maxLength" in text
    assert "rewrite.j2:2: variable 'customer_name' is not provided to the rewrite prompt" in text
    assert (
        "actions.j2: the actions prompt shows neither {{ codes }} nor the codes keep, zap, skip"
        in text
    )
    assert len(errors) == 5
    assert out.splitlines()[-1].endswith("5 error(s), 0 warning(s)")


def test_check_of_a_folder_without_domain_yaml(capsys, tmp_path):
    code, out, _ = run(capsys, "domains", "check", str(tmp_path))
    assert code == 1 and "not a domain folder" in out


def test_the_reference_page_is_up_to_date(capsys):
    from actions.domains.reference import render_reference

    assert REFERENCE.read_text(encoding="utf-8") == render_reference(), (
        "docs/reference/domains.md is stale: run "
        "`vtk domains reference --out docs/reference/domains.md`"
    )
    code, out, _ = run(capsys, "domains", "reference")
    assert code == 0 and out == render_reference()


def test_validate_against_the_users_own_schema(capsys, tmp_path):
    schema = tmp_path / "profile.json"
    schema.write_text(
        json.dumps(
            {
                "type": "object",
                "properties": {"genres": {"type": "array", "items": {"enum": ["Crime"]}}},
                "required": ["genres"],
                "additionalProperties": False,
            }
        )
    )
    outputs = tmp_path / "out.jsonl"
    outputs.write_text(
        json.dumps({"example_id": "a", "output": '{"genres":["Crime"]}'})
        + "\n"
        + json.dumps({"example_id": "b", "output": '{"genres":["Jazz"],"x":1}'})
        + "\n"
        + '{"genres": "Crime"}\n'
    )
    code, out, _ = run(capsys, "validate", "--schema", str(schema), str(outputs))
    assert code == 1
    lines = out.splitlines()
    assert f'{outputs}:2: $.genres[0]: "Jazz" is not one of: "Crime"' in lines
    assert any(line.startswith(f"{outputs}:2: $") and "x" in line for line in lines)
    assert any(line.startswith(f"{outputs}:3: $.genres") for line in lines)
    assert lines[-1] == f"1 valid / 3 total (2 invalid) under grammar schema {schema}"


def test_validate_needs_exactly_one_of_grammar_and_schema(capsys, tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text("[]\n")
    code, _, err = run(capsys, "validate", str(path))
    assert code == 2 and "exactly one of --grammar NAME and --schema FILE" in err
    code, _, err = run(capsys, "validate", "--schema", str(tmp_path / "none.json"), str(path))
    assert code == 2 and "none.json" in err and "not found" in err
