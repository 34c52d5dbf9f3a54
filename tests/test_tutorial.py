"""The tutorial of docs/domains.md, step by step: its commands are read from the page and
run in order (a folder domain, no Python), with a tiny random model in place of the
embedded one for the two LLM steps, and outputs under a temporary folder."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from toolkit.cli import main

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "domains.md"


pytestmark = pytest.mark.usefixtures("no_folder_domains")


def tutorial_commands() -> list[str]:
    """The shell lines of the tutorial section's code blocks, in order."""
    text = PAGE.read_text(encoding="utf-8")
    section = text.split("## Tutorial", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_the_tutorial_has_every_step():
    commands = [c.split()[:3] for c in tutorial_commands()]
    assert commands[0][0] == "export"
    for step in (
        ["vtk", "domains", "check"],
        ["vtk", "domains", "list"],
        ["vtk", "grammars", "list"],
        ["vtk", "data", "prepare"],
        ["vtk", "verbalize", "--tasks"],
        ["vtk", "validate", "--grammar"],
        ["vtk", "validate", "--schema"],
        ["vtk", "train", "verbalizer"],
    ):
        assert step in commands, step


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory, tokenizer):
    from toolkit.models import tiny_model

    path = tmp_path_factory.mktemp("tiny")
    tiny_model(tokenizer).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_follow_the_tutorial(tmp_path, tiny_dir, monkeypatch, capsys):
    import torch

    torch.set_num_threads(1)
    monkeypatch.chdir(ROOT)
    runs = tmp_path / "runs"
    outputs: dict[str, str] = {}
    for line in tutorial_commands():
        line = line.replace("runs/", f"{runs}/")
        if line.startswith("export "):
            name, value = line.removeprefix("export ").split("=", 1)
            monkeypatch.setenv(name, value.replace("$PWD", str(ROOT)))
            continue
        args = shlex.split(line)[1:]
        if args[:2] == ["verbalize", "--tasks"] and "rewrite" in args:
            args += ["--model", str(tiny_dir)]
        if args[:2] == ["train", "verbalizer"]:
            args += [f"model.path={tiny_dir}", f"data.tasks={runs}/bookshop"]
            args += ["--out", f"{runs}/bookshop-verbalizer", "--quiet"]
        code = main(args)
        out, err = capsys.readouterr()
        assert code == 0, (line, out, err)
        outputs[" ".join(args[:2])] = outputs.get(" ".join(args[:2]), "") + out

    assert "ok: domain bookshop" in outputs["domains check"]
    assert re.search(r"^bookshop\s+5\s+bookshop/reading_profile", outputs["domains list"], re.M)
    assert "bookshop/reading_profile json_schema" in outputs["grammars list"]
    validated = outputs["validate --grammar"] + outputs["validate --schema"]
    assert "40 valid / 40 total (0 invalid) under grammar action_plan" in validated
    assert "3 valid / 3 total (0 invalid) under grammar bookshop/reading_profile" in validated
    assert "3 valid / 3 total (0 invalid) under grammar schema" in validated

    meta = json.loads((runs / "bookshop" / "meta.json").read_text())
    assert meta["domain"] == "bookshop"
    plans = [json.loads(x) for x in (runs / "bookshop-plans.jsonl").read_text().splitlines()]
    assert any("Bought" in p["text"] for p in plans)
    assert not any("Looked at" in p["text"] for p in plans)  # views are the domain's noise
    profiles = [json.loads(x) for x in (runs / "bookshop-profiles.jsonl").read_text().splitlines()]
    assert {p["grammar"] for p in profiles} == {"bookshop/reading_profile"}
    assert all(p["valid"] for p in profiles)
    assert (runs / "bookshop-verbalizer" / "final" / "adapter_config.json").is_file()
    metrics = [
        json.loads(x)
        for x in (runs / "bookshop-verbalizer" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [m["step"] for m in metrics if "reward" in m] == [1, 2]
