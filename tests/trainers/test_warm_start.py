"""The heuristic warm start: SFT targets are grammar-valid, SFT moves the weights."""

from __future__ import annotations

import json

import pytest
import torch

from tests.trainers.conftest import GenreOracle
from trainers.config import VerbalizerTrainConfig


@pytest.fixture(scope="module")
def plan(tmp_path_factory, tokenizer):
    from toolkit.sources import read_source
    from toolkit.tasks import TaskConfig, TaskSet, prepare_tasks
    from toolkit.verbalizers.actions import ActionsVerbalizer
    from trainers.stage1 import plan_verbalizer

    out = tmp_path_factory.mktemp("ws")
    data = read_source("synthetic", None, n_users=8, history_length=(8, 10))
    prepare_tasks(data, out / "tasks", TaskConfig(max_history=8, train_per_user=1))
    tasks = TaskSet.load(out / "tasks")
    config = VerbalizerTrainConfig(
        data={"tasks": str(out / "tasks"), "limit": 6}, output_dir=out / "run"
    )
    policy = ActionsVerbalizer(None, tokenizer=tokenizer, domain=tasks.domain)
    return plan_verbalizer(
        config, tokenizer, tasks=tasks, policy=policy, oracle=GenreOracle(tasks.catalog)
    )


def test_targets_are_valid_action_plans(plan):
    from grammars import get_grammar
    from grammars.base import GrammarContext
    from trainers.sft import heuristic_targets

    rows = heuristic_targets(plan)
    assert len(rows) == len(plan.rows)
    for row, src in zip(rows, plan.rows, strict=True):
        ex = plan.reward.examples[src["example_id"]]
        target = row["completion"][0]["content"]
        ctx = GrammarContext(n_interactions=len(ex.history), domain="streaming")
        assert get_grammar("action_plan").validate(target, ctx) == []
        assert row["prompt"][0]["content"] == src["prompt"]


def test_numbered_policy_gets_the_same_codes_under_line_numbers(plan, tokenizer):
    import copy
    from dataclasses import replace

    from grammars import get_grammar
    from grammars.base import GrammarContext
    from grammars.numbered_plan import numbered_codes
    from toolkit.verbalizers.actions import NumberedActionsVerbalizer
    from trainers.sft import heuristic_targets

    policy = NumberedActionsVerbalizer(None, tokenizer=tokenizer, domain="streaming")
    reward = copy.copy(plan.reward)
    reward.policy = policy
    numbered = replace(plan, reward=reward)
    for array, keyed, src in zip(
        heuristic_targets(plan), heuristic_targets(numbered), plan.rows, strict=True
    ):
        n = len(plan.reward.examples[src["example_id"]].history)
        target = keyed["completion"][0]["content"]
        assert get_grammar("numbered_plan").validate(target, GrammarContext(n_interactions=n)) == []
        assert numbered_codes(json.loads(target)) == json.loads(array["completion"][0]["content"])


def test_sft_moves_weights_and_returns_a_plain_model(plan, tokenizer):
    from peft import PeftModel

    from toolkit.models import tiny_model
    from trainers.sft import SFTSettings, heuristic_targets, sft

    model = tiny_model(tokenizer)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    settings = SFTSettings(max_steps=2, batch_size=2, learning_rate=5e-2, max_length=512)
    out = sft(model, tokenizer, heuristic_targets(plan), settings)
    assert not isinstance(out, PeftModel)
    after = dict(out.named_parameters())
    moved = [n for n in before if "proj" in n and not torch.equal(before[n], after[n])]
    assert moved, "SFT changed no attention projection"


def test_unknown_policy_has_no_heuristic(plan):
    from trainers.sft import heuristic_targets

    plan.reward.policy.name = "zero_shot"
    try:
        with pytest.raises(ValueError, match="no heuristic warm start"):
            heuristic_targets(plan)
    finally:
        plan.reward.policy.name = "actions"


def test_heuristic_warm_start_is_cached_by_weights_targets_and_settings(plan, tokenizer):
    import dataclasses

    from toolkit.models import tiny_model
    from trainers.sft import cache_dir, heuristic_warm_start

    options = {"max_steps": 1, "batch_size": 2, "learning_rate": 5e-2, "max_length": 512}
    config = plan.config.model_copy(update={"warm_start_options": options})
    cached_plan = dataclasses.replace(plan, config=config)
    first = heuristic_warm_start(tiny_model(tokenizer), tokenizer, cached_plan)
    folders = list(cache_dir(config).iterdir())
    assert len(folders) == 1 and folders[0].name.startswith("heuristic-")
    assert (folders[0] / "tokenizer_config.json").is_file()
    assert json.loads((folders[0] / "vtk.json").read_text())["verbalizer"] == "actions"
    again = heuristic_warm_start(tiny_model(tokenizer), tokenizer, cached_plan)
    for (name, a), (_, b) in zip(
        first.state_dict().items(), again.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    # another base model (a different initialisation) is another entry
    heuristic_warm_start(tiny_model(tokenizer, seed=1), tokenizer, cached_plan)
    assert len(list(cache_dir(config).iterdir())) == 2


def test_warm_start_options_are_checked(plan, tokenizer):
    import dataclasses

    from toolkit.errors import ConfigError
    from toolkit.models import tiny_model
    from trainers.sft import heuristic_warm_start

    config = plan.config.model_copy(update={"warm_start_options": {"max_step": 1}})
    with pytest.raises(ConfigError, match=r"warm_start_options\.max_step"):
        heuristic_warm_start(
            tiny_model(tokenizer), tokenizer, dataclasses.replace(plan, config=config)
        )


def test_max_steps_zero_saves_the_warm_start_alone(plan, tokenizer):
    """``grpo.max_steps: 0`` runs the warm start and saves it as the stage's final model
    (no GRPO step), loadable like any trained verbalizer."""
    import dataclasses

    from transformers import AutoModelForCausalLM

    from toolkit.models import tiny_model
    from trainers.run import run_stage
    from trainers.sft import heuristic_warm_start

    options = {"max_steps": 1, "batch_size": 2, "learning_rate": 5e-2, "max_length": 512}
    update = {
        "warm_start": "heuristic",
        "warm_start_options": options,
        "grpo": plan.config.grpo.model_copy(update={"max_steps": 0}),
        "output_dir": plan.config.output_dir.parent / "ws-only",
    }
    config = plan.config.model_copy(update=update)
    ws_plan = dataclasses.replace(plan, config=config)
    result = run_stage(ws_plan, model=tiny_model(tokenizer), tokenizer=tokenizer, progress=False)
    assert result.global_step == 0 and result.trainer is None
    meta = json.loads((result.final_dir / "vtk.json").read_text())
    assert meta["global_step"] == 0 and meta["merged"] is True
    saved = AutoModelForCausalLM.from_pretrained(result.final_dir)
    expected = heuristic_warm_start(tiny_model(tokenizer), tokenizer, ws_plan)  # the cache
    for (name, a), (_, b) in zip(
        saved.state_dict().items(), expected.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    assert not (config.output_dir / "metrics.jsonl").exists()


def test_max_steps_zero_needs_a_warm_start(tmp_path):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="trains nothing without a warm_start"):
        VerbalizerTrainConfig(
            data={"tasks": str(tmp_path)}, output_dir=tmp_path / "r", grpo={"max_steps": 0}
        )
