"""A few GRPO steps of each stage on a tiny random model: every LoRA parameter moves,
rewards stay finite, a resumed run continues the step count, the final adapter loads.
Plus the rollout and mask helpers the trainer is built from."""

from __future__ import annotations

import json
import math

import pytest
import torch
from transformers import TrainerCallback

from tests.trainers.conftest import GENRES, GenreOracle, ToyGenreVerbalizer, toy_tasks
from toolkit.backends.base import Completion
from toolkit.errors import ConfigError, InputError
from trainers.config import ReasonerTrainConfig, VerbalizerTrainConfig
from trainers.grpo import fit_length, stack_supports
from trainers.logging import read_metrics
from trainers.rollout import (
    CONSTRAINT_KEY,
    GAP_KEY,
    SUPPORT_KEY,
    ConstrainedRollout,
    PromptTable,
)
from trainers.stage1 import train_verbalizer
from trainers.stage2 import train_reasoner

TINY_GRPO = {
    "device": "cpu",
    "num_generations": 4,
    "batch_size": 8,
    "max_steps": 2,
    "learning_rate": 0.02,
    "max_completion_length": 6,
    "save_steps": 1,
    "logging_steps": 1,
    "beta": 0.04,
}
LORA = {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}


def fresh(base_dir):
    from toolkit.models import load_model

    return load_model(base_dir)


class Snapshot(TrainerCallback):
    """The trainable parameters as they were when training began."""

    def __init__(self):
        self.before: dict[str, torch.Tensor] = {}

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.before = {
            n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad
        }


def changed(snapshot: Snapshot, model) -> tuple[list[str], list[str]]:
    params = dict(model.named_parameters())
    moved = [n for n, old in snapshot.before.items() if not torch.equal(old, params[n])]
    still = [n for n in snapshot.before if n not in moved]
    return moved, still


def stage1_config(tmp_path, base_dir, **grpo):
    return VerbalizerTrainConfig(
        model={"path": str(base_dir), "lora": LORA},
        data={"tasks": str(tmp_path / "toy")},
        grpo={**TINY_GRPO, **grpo},
        output_dir=tmp_path / "run",
    )


def run_stage1(config, base_dir, **kwargs):
    model, tok = fresh(base_dir)
    tasks = toy_tasks(12)
    return train_verbalizer(
        config,
        tasks=tasks,
        policy=ToyGenreVerbalizer(None, tokenizer=tok),
        oracle=GenreOracle(tasks.catalog),
        model=model,
        tokenizer=tok,
        progress=False,
        **kwargs,
    )


@pytest.mark.parametrize("logprobs", ["masked", "unmasked"])
def test_stage1_moves_every_lora_parameter(tmp_path, base_dir, tokenizer, logprobs):
    snap = Snapshot()
    config = stage1_config(tmp_path, base_dir).model_copy(update={"logprobs": logprobs})
    result = run_stage1(config, base_dir, callbacks=[snap])
    assert result.global_step == 2
    _, still = changed(snap, result.trainer.model)
    assert snap.before and all("lora_" in n for n in snap.before)
    assert not still, f"unchanged after 2 steps: {still}"

    rows = read_metrics(result.metrics_path)
    assert [r["step"] for r in rows[:2]] == [1, 2]
    for row in rows[:2]:
        for key in ("reward", "reward_std", "accuracy", "rewards/correct", "rewards/length"):
            assert math.isfinite(row[key]), key
        assert 0.0 <= row["accuracy"] <= 1.0
        assert 0.0 <= row["frac_reward_zero_std"] <= 1.0
        assert row["verbalizer/compression"] > 0
        assert (
            row["logprobs/sampler_masked_minus_unmasked"] >= 0
        )  # masking only ever adds probability
        assert math.isfinite(row["kl"])
        for phase in ("generation", "reward", "logprob", "optimizer", "step"):
            assert row[f"time/{phase}"] >= 0
    # step 1 is on-policy: the trainer's log-probs are the sampler's, token by token
    assert rows[0]["logprobs/sampler_abs_diff"] < 1e-4
    if logprobs == "masked":
        gap = rows[0]["logprobs/masked_minus_unmasked"]
        assert gap > 0 and gap == pytest.approx(
            rows[0]["logprobs/sampler_masked_minus_unmasked"], abs=1e-3
        )
        assert rows[0]["logprobs/support_refused"] == 0
    else:
        assert "logprobs/masked_minus_unmasked" not in rows[0]


@pytest.mark.parametrize(
    "grpo",
    [
        {"temperature": 0.7, "top_p": 0.9, "top_k": 30},  # the sampler's distribution, scored
        {"num_iterations": 2},  # two passes per generation batch: the old-log-prob path
        {"shared_prompt": False},  # the plain path still trains
    ],
    ids=["temperature-0.7", "old-logprobs", "plain"],
)
def test_trainer_scores_the_distribution_the_sampler_drew_from(tmp_path, base_dir, grpo):
    config = stage1_config(tmp_path, base_dir, **grpo)
    result = run_stage1(config, base_dir)
    rows = read_metrics(result.metrics_path)
    assert result.global_step == 2
    assert rows[0]["logprobs/sampler_abs_diff"] < 1e-4
    assert rows[0]["logprobs/support_refused"] == 0
    assert math.isfinite(rows[0]["reward"])
    for row in rows[:2]:
        assert math.isfinite(row["kl"]) and math.isfinite(row["loss"])
    if grpo.get("num_iterations"):  # step 2 re-uses step 1's samples after an update
        assert "reward" not in rows[1] and rows[1]["logprobs/sampler_abs_diff"] > 1e-6


def test_completion_budget_below_the_grammar_bound_is_refused(tmp_path, base_dir):
    config = stage1_config(tmp_path, base_dir, max_completion_length=3)
    with pytest.raises(ConfigError, match=r"grpo.max_completion_length=6"):
        run_stage1(config, base_dir)


def test_stage1_final_adapter_loads_and_resume_continues(tmp_path, base_dir, tokenizer):
    from toolkit.models import load_model

    config = stage1_config(tmp_path, base_dir)
    first = run_stage1(config, base_dir)
    final = first.final_dir
    adapter = json.loads((final / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str(base_dir.resolve())
    meta = json.loads((final / "vtk.json").read_text())
    assert meta["stage"] == "verbalizer" and meta["verbalizer"] == "toy_genre"
    model, tok = load_model(final)
    base, _ = load_model(base_dir)
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(model.state_dict()[q], base.state_dict()[q])
    assert not any("lora" in n for n in model.state_dict())
    assert tok.eos_token_id == tokenizer.eos_token_id

    with pytest.raises(ConfigError, match="--resume"):
        run_stage1(config, base_dir)

    longer = config.model_copy(update={"grpo": config.grpo.model_copy(update={"max_steps": 3})})
    resumed = run_stage1(longer, base_dir, resume=True)
    assert resumed.global_step == 3
    steps = [r["step"] for r in read_metrics(resumed.metrics_path) if "reward" in r]
    assert steps == [1, 2, 3]


def test_stage2_moves_every_lora_parameter(tmp_path, base_dir, tokenizer):
    snap = Snapshot()
    model, tok = fresh(base_dir)
    config = ReasonerTrainConfig(
        model={"path": str(base_dir), "lora": LORA},
        data={"tasks": str(tmp_path / "toy")},
        grpo={**TINY_GRPO, "max_completion_length": 2},
        output_dir=tmp_path / "reasoner",
    )
    result = train_reasoner(
        config,
        tasks=toy_tasks(12),
        model=model,
        tokenizer=tok,
        progress=False,
        callbacks=[snap],
    )
    _, still = changed(snap, result.trainer.model)
    assert not still, f"unchanged after 2 steps: {still}"
    rows = read_metrics(result.metrics_path)
    for row in rows[:2]:
        assert math.isfinite(row["reward"]) and -1.0 <= row["reward"] <= 1.0
        assert row["reasoner/valid"] == 1.0  # the choice grammar admits only labels
    meta = json.loads((result.final_dir / "vtk.json").read_text())
    assert meta["stage"] == "reasoner" and meta["context_verbalizer"] == "template"


# ------------------------------------------------------------------ pieces


def test_prompt_table_refuses_conflicting_constraints():
    from grammars.base import Constraint

    table = PromptTable()
    a = Constraint("choice", '["x"]')
    table.add("p", a)
    table.add("p", a)
    assert table("p") is a and len(table) == 1
    with pytest.raises(InputError, match="same prompt"):
        table.add("p", Constraint("choice", '["y"]'), where="ex-2")
    with pytest.raises(KeyError):
        table("q")


def test_rollout_rows_keep_trl_order():
    def completion(ids, masked, unmasked, support="bits"):
        return Completion("", ids, masked, unmasked, "stop", prompt_ids=[9], support=support)

    samples = [
        [completion([1], [-0.1], [-2.0]), completion([2], [-0.2], [-3.0])],
        [completion([3], [-0.3], [-4.0]), completion([], [], [])],
    ]
    rollout = ConstrainedRollout(lambda p: None, lambda m, t: None, logprobs="masked")
    rows = rollout.rows(samples, [0, 0, 1, 1], ["c0", "c1"], eos_id=7)
    assert rows["completion_ids"] == [[1], [2], [3], [7]]
    assert rows["logprobs"] == [[-0.1], [-0.2], [-0.3], [0.0]]
    assert rows[CONSTRAINT_KEY] == ["c0", "c0", "c1", "c1"]
    assert rows[GAP_KEY] == pytest.approx([1.9, 2.8, 3.7, 0.0])
    unmasked = ConstrainedRollout(lambda p: None, lambda m, t: None, logprobs="unmasked")
    assert unmasked.rows(samples, [0, 0, 1, 1], ["c0", "c1"], eos_id=7)["logprobs"][0] == [-2.0]
    # a backend that reports no supports cannot feed masked log-probs
    bare = [[completion([1], [-0.1], [-2.0], support=None)]]
    with pytest.raises(RuntimeError, match="no sampled supports"):
        rollout.rows(bare, [0], ["c0"], eos_id=7)
    assert unmasked.rows(bare, [0], ["c0"], eos_id=7)["completion_ids"] == [[1]]


def test_support_helpers():
    from toolkit.backends.bitmask import pack, unpack

    one = pack(torch.tensor([[True, False, True, False, False]]))  # [T=1, W]
    stacked = stack_supports([one, None], vocab_size=5)
    assert stacked.shape == (2, 1, 1) and stacked.dtype == torch.int32
    assert unpack(stacked[0], 5).tolist() == [[True, False, True, False, False]]
    assert unpack(stacked[1], 5).all()  # no support: everything allowed
    assert fit_length(stacked, 3).shape == (2, 3, 1)
    assert unpack(fit_length(stacked, 3)[:, 1:], 5).all()  # padding allows everything
    assert fit_length(stacked, 1) is stacked


def test_rollout_carries_the_sampler_supports():
    from toolkit.backends.bitmask import pack

    bits = pack(torch.ones(1, 40, dtype=torch.bool))
    c = Completion("", [1], [-0.1], [-0.2], "stop", prompt_ids=[9], support=bits)
    empty = Completion("", [], [], [], "stop", prompt_ids=[9])
    rollout = ConstrainedRollout(lambda p: None, lambda m, t: None)
    rows = rollout.rows([[c, empty]], [0, 0], [None], eos_id=7)
    assert rows[SUPPORT_KEY][0] is bits and rows[SUPPORT_KEY][1] is None


def test_toy_oracle_rewards_the_dominant_genre():
    tasks = toy_tasks(6)
    verbalizer = ToyGenreVerbalizer(None)
    oracle = GenreOracle(tasks.catalog)
    from trainers.stage1 import VerbalizerReward, stage1_reward

    reward = VerbalizerReward(
        {ex.example_id: ex for ex in tasks.split("train")},
        tasks.catalog,
        verbalizer,
        oracle,
        stage1_reward(VerbalizerTrainConfig(data={"tasks": "x"}).rewards),
    )
    ex = tasks.split("train")[0]
    dominant = GENRES[0]
    other = GENRES[1]
    logged = {}
    out = reward([dominant, other, "nonsense"], [ex.example_id] * 3, log_metric=logged.__setitem__)
    assert out[0] > 0.9 and out[1] < 0.1 and out[2] == 0.0
    assert oracle.calls == 1  # one batched call
    assert logged["accuracy"] == pytest.approx(1 / 3)
    assert logged["verbalizer/valid"] == pytest.approx(2 / 3)


def write_tasks(tasks, folder):
    """A task directory on disk, as ``vtk data prepare`` writes it."""
    from toolkit.io import write_json, write_jsonl

    folder.mkdir(parents=True)
    write_jsonl(folder / "train.jsonl", [ex.to_json() for ex in tasks.split("train")])
    write_jsonl(folder / "catalog.jsonl", [item.to_json() for item in tasks.catalog])
    write_json(folder / "meta.json", {"domain": "streaming"})
    return folder


def test_cli_trains_resumes_and_reports_config_errors(tmp_path, base_dir, capsys):
    import yaml

    from toolkit.cli import main

    tasks_dir = write_tasks(toy_tasks(8), tmp_path / "tasks")
    config = tmp_path / "train.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "stage": "verbalizer",
                "model": {"path": str(base_dir), "lora": LORA},
                "data": {"tasks": str(tasks_dir)},
                "verbalizer": {"name": "tests.trainers.conftest:ToyGenreVerbalizer"},
                "oracle": {"name": "tests.trainers.conftest:GenreOracle"},
                "grpo": {**TINY_GRPO, "num_generations": 2, "batch_size": 4},
            }
        )
    )
    out = tmp_path / "cli-run"
    args = ["train", "verbalizer", "--config", str(config), "--out", str(out), "--quiet"]
    assert main([*args, "grpo.max_steps=1"]) == 0
    assert "1 steps; final model:" in capsys.readouterr().out
    assert (out / "final" / "adapter_config.json").is_file()
    assert (out / "config.yaml").is_file()

    assert main([*args, "grpo.max_steps=1"]) == 2  # a previous run, no --resume
    assert "--resume" in capsys.readouterr().err
    assert main([*args, "grpo.max_steps=2", "--resume"]) == 0
    assert "2 steps" in capsys.readouterr().out
    assert [r["step"] for r in read_metrics(out / "metrics.jsonl") if "reward" in r] == [1, 2]

    assert main([*args, "grpo.num_generations=1", "rewards.alpha=3", "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "grpo.num_generations" in err and "rewards.alpha" in err


def test_reasoner_answer_is_one_label_token(tokenizer):
    """Stage 2's grammar allows exactly the 10 label tokens, then only the end token, so
    its masked log-prob is an exact log-softmax over the labels."""
    from grammars.choice import choice_labels, label_constraint
    from trainers.masked_logprobs import allowed_masks

    labels = choice_labels(10)
    c = label_constraint(labels)
    label_id = tokenizer.encode("C", add_special_tokens=False)[0]
    allowed = allowed_masks([c], tokenizer, [[label_id, tokenizer.eos_token_id]], len(tokenizer))
    first = allowed[0, 0].nonzero().flatten().tolist()
    assert sorted(first) == sorted(tokenizer.encode(x, add_special_tokens=False)[0] for x in labels)
    assert allowed[0, 1].nonzero().flatten().tolist() == [tokenizer.eos_token_id]


def test_warm_start_hook(tmp_path):
    from toolkit.errors import UnknownNameError
    from trainers.warm_start import WARM_STARTS, apply_warm_start

    calls = []

    def double(model, tokenizer, plan):
        calls.append(plan)
        return model * 2

    WARM_STARTS.add("test-double", double, replace=True)
    assert apply_warm_start(None, 3, None, "plan") == 3
    assert apply_warm_start("test-double", 3, None, "plan") == 6 and calls == ["plan"]
    with pytest.raises(UnknownNameError, match="test-double"):
        apply_warm_start("missing", 3, None, "plan")


def test_cli_pipeline_feeds_stage1_into_stage2(tmp_path, base_dir, capsys):
    import yaml

    from toolkit.cli import main

    tasks_dir = write_tasks(toy_tasks(8), tmp_path / "tasks")
    stage = {
        "model": {"path": str(base_dir), "lora": LORA},
        "grpo": {**TINY_GRPO, "num_generations": 2, "batch_size": 4, "max_steps": 1},
    }
    config = tmp_path / "pipeline.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "stage": "pipeline",
                "data": {"tasks": str(tasks_dir)},
                "verbalizer": {
                    **stage,
                    "verbalizer": {"name": "tests.trainers.conftest:ToyGenreVerbalizer"},
                    "oracle": {"name": "tests.trainers.conftest:GenreOracle"},
                },
                "reasoner": {
                    **stage,
                    "grpo": {**stage["grpo"], "max_completion_length": 2},
                    "verbalizer": {"max_new_tokens": 6},
                },
            }
        )
    )
    out = tmp_path / "pipe"
    assert main(["train", "pipeline", "--config", str(config), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "verbalizer: 1 steps" in printed and "reasoner: 1 steps" in printed
    meta = json.loads((out / "reasoner" / "final" / "vtk.json").read_text())
    assert meta["context_model"] == str((out / "verbalizer" / "final").resolve())
    assert meta["context_verbalizer"] == "tests.trainers.conftest:ToyGenreVerbalizer"
    saved = yaml.safe_load((out / "reasoner" / "config.yaml").read_text())
    assert saved["verbalizer"]["model"] == meta["context_model"]
    # resuming a finished pipeline skips Stage 1 and continues Stage 2
    args = ["train", "pipeline", "--config", str(config), "--out", str(out), "--quiet"]
    assert main([*args, "--resume", "reasoner.grpo.max_steps=2"]) == 0
    printed = capsys.readouterr().out
    assert "verbalizer: already trained, skipped" in printed and "reasoner: 2 steps" in printed


def test_module_doctests():
    import doctest

    import trainers.logging
    import trainers.rollout

    for module in (trainers.logging, trainers.rollout):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_progress_line_and_metrics_file(tmp_path):
    from types import SimpleNamespace

    from trainers.logging import MetricsCallback

    lines = []

    class Stream:
        def write(self, text):
            lines.append(text)

    callback = MetricsCallback(tmp_path / "m.jsonl", stream=Stream(), extra={"stage": "x"})
    state = SimpleNamespace(global_step=3, max_steps=10, is_world_process_zero=True)
    callback.on_log(None, state, None, logs={"reward": 0.5, "reward_std": 0.25, "kl": float("nan")})
    assert lines[0].startswith("step 3/10  reward 0.500 ± 0.250")
    (row,) = read_metrics(tmp_path / "m.jsonl")
    assert row["step"] == 3 and row["stage"] == "x" and row["kl"] is None
