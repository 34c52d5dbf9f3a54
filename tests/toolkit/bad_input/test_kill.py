"""``kill -9`` of ``vtk data prepare``, ``vtk verbalize`` and ``vtk train``: nothing
half-written stays where it would be read, the next run cleans up after the killed one
and finishes the job."""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path

import pytest

from tests.toolkit.bad_input.conftest import vtk_process


def kill_when(proc, ready, timeout: float = 120.0) -> bool:
    """SIGKILL ``proc`` as soon as ``ready()``; False if it ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if ready():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.002)
    proc.kill()
    raise AssertionError("the process never reached the point to kill it at")


def finish(proc) -> tuple[int, str]:
    out, err = proc.communicate(timeout=600)
    return proc.returncode, out + err


def complete(path: Path) -> bool:
    try:
        json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return True


def temps(folder: Path, name: str) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(f".{name}.vtk-tmp-")]


def test_kill_prepare_while_writing_then_rerun(tmp_path):
    out = tmp_path / "tasks"
    args = ["data", "prepare", "synthetic", "--out", out, "-O", "n_users=300"]
    for _ in range(5):  # the write phase is short: retry until the kill lands inside it
        proc = vtk_process(*args, "--max-history", "100")
        if kill_when(proc, lambda: bool(temps(tmp_path, "tasks"))):
            break
        assert proc.returncode == 0
        shutil.rmtree(out)
    else:
        pytest.fail("could not kill prepare while it was writing")
    assert not out.exists()  # nothing half-written where a reader would look
    assert temps(tmp_path, "tasks")  # the killed run's leftover, named by its pid
    code, text = finish(vtk_process(*args, "--max-history", "100"))
    assert code == 0, text
    assert not temps(tmp_path, "tasks")  # removed by the next run: its owner is dead
    meta = json.loads((out / "meta.json").read_text())
    assert meta["counts"]["test"] == 300


def test_kill_verbalize_then_resume_writes_each_example_once(tmp_path):
    tasks = tmp_path / "tasks"
    code, text = finish(
        vtk_process("data", "prepare", "synthetic", "--out", tasks, "-O", "n_users=40")
    )
    assert code == 0, text
    out = tmp_path / "v.jsonl"
    args = ["verbalize", "--tasks", tasks, "--split", "train", "--verbalizer", "template"]
    args += ["--batch-size", "1", "--out", out]
    proc = vtk_process(*args)
    assert kill_when(proc, lambda: out.is_file() and out.stat().st_size > 20_000)
    rows_before = out.read_bytes().count(b"\n")
    code, text = finish(vtk_process(*args))
    assert code == 0, text
    ids = [json.loads(line)["example_id"] for line in out.read_text().splitlines()]
    expected = [
        json.loads(line)["example_id"] for line in (tasks / "train.jsonl").read_text().splitlines()
    ]
    assert 0 < rows_before < len(expected)
    assert sorted(ids) == sorted(expected)  # every example exactly once


def test_kill_train_then_resume(tmp_path, tokenizer):
    """A tiny model, a checkpoint every step; killed mid-run, ``--resume`` finishes with
    each step logged once."""
    import yaml

    from tests.trainers.conftest import toy_tasks
    from tests.trainers.test_grpo_smoke import LORA, TINY_GRPO, write_tasks
    from toolkit.models import tiny_model
    from trainers.logging import read_metrics

    base = tmp_path / "base"
    tiny_model(tokenizer).save_pretrained(base)
    tokenizer.save_pretrained(base)
    tasks = write_tasks(toy_tasks(8), tmp_path / "tasks")
    config = tmp_path / "train.yaml"
    grpo = {**TINY_GRPO, "num_generations": 2, "batch_size": 4, "save_steps": 1, "max_steps": 3}
    config.write_text(
        yaml.safe_dump(
            {
                "stage": "verbalizer",
                "model": {"path": str(base), "lora": LORA},
                "data": {"tasks": str(tasks)},
                "verbalizer": {"name": "tests.trainers.conftest:ToyGenreVerbalizer"},
                "oracle": {"name": "tests.trainers.conftest:GenreOracle"},
                "grpo": grpo,
            }
        )
    )
    out = tmp_path / "run"
    args = ["train", "verbalizer", "--config", config, "--out", out, "--quiet"]
    first = out / "checkpoints" / "checkpoint-1" / "trainer_state.json"
    assert kill_when(vtk_process(*args), lambda: complete(first), timeout=300)
    assert not (out / "final").exists()
    code, text = finish(vtk_process(*args, "--resume"))
    assert code == 0, text
    assert "3 steps; final model" in text
    assert (out / "final" / "adapter_config.json").is_file()
    steps = [r["step"] for r in read_metrics(out / "metrics.jsonl") if "reward" in r]
    assert steps == [1, 2, 3]


def test_resume_skips_a_checkpoint_cut_short(tmp_path):
    """A kill while a checkpoint was saved leaves its trainer_state.json empty or absent."""
    from trainers.run import _last_complete_checkpoint

    for step, state in ((1, "{}"), (2, ""), (3, None)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if state is not None:
            (folder / "trainer_state.json").write_text(state)
    assert _last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-1")
