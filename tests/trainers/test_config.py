"""Stage configs: defaults, validation (every problem at once), overrides, TRL arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.config import load_config
from toolkit.errors import ConfigError
from trainers.config import (
    GRPOSettings,
    PipelineConfig,
    PlateauSettings,
    ReasonerTrainConfig,
    VerbalizerTrainConfig,
    grpo_args,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_defaults_follow_the_issue(tmp_path):
    config = VerbalizerTrainConfig(data={"tasks": tmp_path})
    assert config.rewards.alpha == 0.9
    assert (config.rewards.plateau.low, config.rewards.plateau.high) == (0.3, 0.7)
    assert config.rewards.kind == "accuracy" and config.rewards.length
    assert config.logprobs == "masked"
    assert config.model.lora is not None and config.model.path == "embedded"
    reasoner = ReasonerTrainConfig(data={"tasks": tmp_path})
    assert reasoner.rewards.kind == "plus_minus_one" and not reasoner.rewards.length
    assert reasoner.verbalizer.name == "template"


def test_all_problems_reported_with_lines(tmp_path):
    path = write(
        tmp_path,
        "data:\n  tasks: t\ngrpo:\n  num_generations: 1\n  learning_rate: -1\n"
        "rewards:\n  alpha: 2\nlogprobs: sometimes\n",
    )
    with pytest.raises(ConfigError) as info:
        load_config(VerbalizerTrainConfig, path)
    text = str(info.value)
    assert "4 problem(s)" in text
    for field in ("grpo.num_generations", "grpo.learning_rate", "rewards.alpha", "logprobs"):
        assert f"field '{field}'" in text
    assert f"{path}:4:" in text  # num_generations is written on line 4


def test_unknown_key_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"grpo\.lr"):
        load_config(VerbalizerTrainConfig, write(tmp_path, "data: {tasks: t}\ngrpo: {lr: 1}\n"))


def test_overrides(tmp_path):
    path = write(tmp_path, "data: {tasks: t}\n")
    config = load_config(
        VerbalizerTrainConfig,
        path,
        ["grpo.max_steps=7", "rewards.kind=ranking", "logprobs=unmasked", "model.lora=null"],
    )
    assert config.grpo.max_steps == 7 and config.rewards.kind == "ranking"
    assert config.logprobs == "unmasked" and config.model.lora is None


def test_whole_groups_per_step():
    with pytest.raises(ValueError, match="multiple of num_generations"):
        GRPOSettings(num_generations=3, batch_size=4)
    assert (
        GRPOSettings(
            num_generations=4, batch_size=4, gradient_accumulation_steps=2
        ).prompts_per_step
        == 2
    )


def test_plateau_must_be_ordered():
    with pytest.raises(ValueError, match="must not exceed"):
        PlateauSettings(low=0.8, high=0.5)


def test_reasoner_refuses_length_reward(tmp_path):
    with pytest.raises(ValueError, match="Stage 1 only"):
        ReasonerTrainConfig(data={"tasks": tmp_path}, rewards={"length": True})


def test_pipeline_shares_data(tmp_path):
    config = PipelineConfig.model_validate(
        {"data": {"tasks": str(tmp_path)}, "verbalizer": {}, "reasoner": {"data": {"tasks": "x"}}}
    )
    assert config.verbalizer.data.tasks == tmp_path
    assert config.reasoner.data.tasks == Path("x")


def test_grpo_args_on_cpu(tmp_path):
    config = VerbalizerTrainConfig(
        data={"tasks": tmp_path},
        grpo={"device": "cpu", "num_generations": 2, "batch_size": 4, "beta": 0.1},
    )
    args = grpo_args(config, tmp_path / "ckpt")
    assert args.use_cpu and not args.bf16
    assert args.num_generations == 2 and args.per_device_train_batch_size == 4
    assert args.beta == 0.1 and args.loss_type == "grpo"
    assert not args.use_vllm and not args.vllm_importance_sampling_correction
    assert args.report_to == [] or args.report_to == "none" or args.report_to == ["none"]
    assert args.output_dir == str(tmp_path / "ckpt")
