"""``vtk train`` under ``accelerate launch`` with the shipped CPU DDP config: 2 processes
(gloo), a tiny model, 2 GRPO steps. The shipped GPU configs are checked for shape."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs" / "accelerate").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_accelerate_configs_name_their_launch_command(path):
    text = path.read_text()
    assert f"accelerate launch --config_file configs/accelerate/{path.name}" in text
    assert "-m toolkit.cli train" in text
    config = yaml.safe_load(text)
    assert config["num_processes"] >= 2 and config["distributed_type"] in ("MULTI_GPU", "DEEPSPEED")
    if config["distributed_type"] == "DEEPSPEED":
        assert config["deepspeed_config"]["zero_stage"] in (2, 3)


@pytest.mark.slow
def test_vtk_train_runs_under_accelerate_launch_with_two_cpu_processes(tmp_path, tokenizer):
    from tests.trainers.conftest import toy_tasks
    from tests.trainers.test_grpo_smoke import write_tasks
    from toolkit.models import tiny_model

    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    if accelerate is None:
        pytest.skip("accelerate's launcher is not installed beside this Python")
    base = tmp_path / "tiny"
    tiny_model(tokenizer).save_pretrained(base)
    tokenizer.save_pretrained(base)
    config = tmp_path / "train.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "stage": "verbalizer",
                "model": {"path": str(base), "lora": {"r": 4, "alpha": 8}},
                "data": {"tasks": str(write_tasks(toy_tasks(8), tmp_path / "tasks"))},
                "verbalizer": {"name": "tests.trainers.conftest:ToyGenreVerbalizer"},
                "oracle": {"name": "tests.trainers.conftest:GenreOracle"},
                "grpo": {
                    "device": "cpu",
                    "num_generations": 2,
                    "batch_size": 4,
                    "max_steps": 2,
                    "max_completion_length": 6,
                    "logging_steps": 1,
                    "save_steps": 1,
                },
            }
        )
    )
    out = tmp_path / "run"
    cmd = [accelerate, "launch", "--config_file", str(ROOT / "configs/accelerate/cpu_ddp.yaml")]
    cmd += ["-m", "toolkit.cli", "train", "verbalizer", "--config", str(config)]
    cmd += ["--out", str(out), "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    # one report per process: both trained the same 2 steps in one DDP group
    assert done.stdout.count("verbalizer: 2 steps; final model:") == 2, done.stdout
    assert "[rank1]" in done.stderr or "rank1" in done.stderr or "world_size=2" in done.stderr
    assert (out / "final" / "adapter_config.json").is_file()
