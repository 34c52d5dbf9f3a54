"""The part both stages share: policy in, GRPO run, checkpoints, final model out.

A stage builds a ``StagePlan`` (training rows, the prompt -> constraint table, the TRL
reward function, what to record about the result) and ``run_stage`` does the rest:
load the policy, run the warm-start hook, attach LoRA, train with
``VtkGRPOTrainer`` (resuming from the last checkpoint on request), log metrics and save
the final adapter (or merged model) with its tokenizer where ``toolkit.models.load_model``
reads it. Layout of ``output_dir``::

    config.yaml      the resolved config
    metrics.jsonl    one row per log step (appended on resume)
    checkpoints/     TRL/transformers checkpoints (checkpoint-N)
    final/           adapter_config.json + adapter weights + tokenizer + vtk.json
"""

from __future__ import annotations

import re
import shutil
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from toolkit.errors import ConfigError
from trainers.config import ModelSettings, _StageConfig, grpo_args
from trainers.logging import MetricsCallback, StageProgress, quiet_trainer
from trainers.rollout import ConstrainedRollout, GeneratorFactory, PromptTable
from trainers.warm_start import apply_warm_start

if TYPE_CHECKING:
    from trainers.grpo import VtkGRPOTrainer

FINAL = "final"
CHECKPOINTS = "checkpoints"
METRICS = "metrics.jsonl"


@dataclass
class StagePlan:
    """Everything stage-specific that ``run_stage`` needs."""

    stage: str
    config: _StageConfig
    rows: list[dict[str, Any]]
    """Training rows: ``prompt`` (the user message) plus the columns the reward reads."""
    table: PromptTable
    reward: Callable[..., list[float]]
    meta: dict[str, Any] = field(default_factory=dict)
    """Written to ``final/vtk.json`` so loaders know what the model was trained as."""
    trainer_factory: Callable[..., Any] | None = None
    """``(plan, model, tokenizer, callbacks=...) -> trainer`` for a stage that does not
    train with GRPO (Stage 2's exact objective); None: ``build_trainer``."""
    credit: Callable[..., Any] | None = None
    """Per-line credit (``trainers.credit.LineCredit``) for plan verbalizers, or None."""
    credit_weight: float = 0.0


@dataclass
class TrainResult:
    output_dir: Path
    final_dir: Path
    global_step: int
    metrics_path: Path
    trainer: Any = None


def model_reference(path: str) -> str:
    """How a saved adapter names its base: ``embedded`` stays portable, a local folder
    becomes absolute (so the adapter loads from any working directory)."""
    from toolkit.models import EMBEDDED_NAME

    if path in ("embedded", EMBEDDED_NAME):
        return "embedded"
    local = Path(path).expanduser()
    return str(local.resolve()) if local.exists() else path


def load_policy(settings: ModelSettings) -> tuple[Any, Any]:
    from toolkit.models import load_model

    return load_model(settings.path, dtype=settings.dtype)


def _readable_json(path: Path) -> bool:
    import json

    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def _last_complete_checkpoint(checkpoints: Path) -> str | None:
    """The newest checkpoint that was saved to the end (a run killed while saving leaves
    one without a whole ``trainer_state.json``, its last file)."""
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    if not checkpoints.is_dir():
        return None
    done = [
        p
        for p in checkpoints.glob(f"{PREFIX_CHECKPOINT_DIR}-*")
        if p.name.rsplit("-", 1)[-1].isdigit() and _readable_json(p / "trainer_state.json")
    ]
    return str(max(done, key=lambda p: int(p.name.rsplit("-", 1)[-1]))) if done else None


def prepare_output(output_dir: Path, *, resume: bool, overwrite: bool) -> Path | None:
    """Check the output folder; return the checkpoint to resume from (or None)."""
    checkpoints = output_dir / CHECKPOINTS
    previous = (output_dir / METRICS).exists() or checkpoints.exists()
    if resume:
        last = _last_complete_checkpoint(checkpoints)
        if last is None:
            raise ConfigError(f"{checkpoints}: no checkpoint to resume from (drop --resume)")
        return Path(last)
    if previous and not overwrite:
        raise ConfigError(
            f"{output_dir} holds a previous run; pass --resume to continue it, "
            "--overwrite to start again, or another --out"
        )
    if previous:
        _check_own_run(output_dir)
        shutil.rmtree(checkpoints, ignore_errors=True)
        (output_dir / METRICS).unlink(missing_ok=True)
        shutil.rmtree(output_dir / FINAL, ignore_errors=True)
    return None


def _check_own_run(output_dir: Path) -> None:
    """Refuse ``--overwrite`` unless what it deletes is a vtk run's: ``checkpoints/`` holds
    only ``checkpoint-N`` folders and ``final/`` (if any) carries vtk's ``vtk.json``."""
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    checkpoints, final = output_dir / CHECKPOINTS, output_dir / FINAL
    foreign = []
    if checkpoints.is_dir():
        foreign += [
            p
            for p in checkpoints.iterdir()
            if not (p.is_dir() and re.fullmatch(rf"{PREFIX_CHECKPOINT_DIR}-\d+", p.name))
        ]
    elif checkpoints.exists():
        foreign.append(checkpoints)
    if final.exists() and not (final / "vtk.json").is_file():
        foreign.append(final)
    if foreign:
        shown = ", ".join(str(p) for p in foreign[:3])
        raise ConfigError(
            f"{output_dir}: --overwrite would delete what vtk did not write ({shown}); "
            "move it away or pick another --out"
        )


def build_trainer(
    plan: StagePlan,
    model: Any,
    tokenizer: Any,
    *,
    generator_factory: GeneratorFactory | None = None,
    callbacks: Sequence[Any] = (),
) -> VtkGRPOTrainer:
    from datasets import Dataset

    from trainers.grpo import VtkGRPOTrainer
    from trainers.rollout import transformers_generator

    config = plan.config
    g = config.grpo
    factory = generator_factory or transformers_generator(g.rollout_batch_size, g.shared_prompt)
    rollout = ConstrainedRollout(plan.table, factory, logprobs=config.logprobs)
    peft_config = config.model.lora.to_peft() if config.model.lora is not None else None
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*rollout_func.*experimental")
        trainer = VtkGRPOTrainer(
            model=model,
            reward_funcs=[plan.reward],
            args=grpo_args(config, config.output_dir / CHECKPOINTS),
            train_dataset=Dataset.from_list(plan.rows),
            processing_class=tokenizer,
            peft_config=peft_config,
            rollout_func=rollout,
            logprobs=config.logprobs,
            shared_prompt=g.shared_prompt,
            chunk_tokens=g.logprob_chunk_tokens,
            line_credit=plan.credit,
            credit_weight=plan.credit_weight,
            callbacks=list(callbacks),
        )
    quiet_trainer(trainer)
    return trainer


def save_final(trainer: Any, tokenizer: Any, plan: StagePlan, final_dir: Path) -> None:
    """The adapter (``adapter_config.json`` naming its base) or, with ``merge``, the merged
    model; plus the tokenizer and ``vtk.json``. Written atomically."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    save_model(model, tokenizer, plan, final_dir, trainer.state.global_step)


def save_model(model: Any, tokenizer: Any, plan: StagePlan, final_dir: Path, step: int) -> None:
    """``save_final`` for a model in hand (a trained one, or a warm start alone, step 0)."""
    import json

    from peft import PeftModel

    from toolkit.io import atomic_dir, write_json

    config = plan.config
    is_peft = isinstance(model, PeftModel)
    with atomic_dir(final_dir) as tmp:
        # a warm start changed the base weights: an adapter alone would load on the
        # original base, so the result is saved merged
        if is_peft and not config.merge and config.warm_start is None:
            model.save_pretrained(tmp)
            cfg_path = tmp / "adapter_config.json"
            adapter = json.loads(cfg_path.read_text())
            adapter["base_model_name_or_path"] = model_reference(config.model.path)
            cfg_path.write_text(json.dumps(adapter, indent=2))
        else:
            (model.merge_and_unload() if is_peft else model).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json(
            tmp / "vtk.json",
            {
                "stage": plan.stage,
                "base_model": model_reference(config.model.path),
                "merged": not is_peft or config.merge or config.warm_start is not None,
                "logprobs": config.logprobs,
                "global_step": step,
                **plan.meta,
            },
        )


def run_stage(
    plan: StagePlan,
    *,
    model: Any = None,
    tokenizer: Any = None,
    checkpoint: Path | None = None,
    progress: bool = True,
    generator_factory: GeneratorFactory | None = None,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Train one stage end to end (from ``checkpoint`` when given, see
    ``prepare_output``) and save its final model; return where things went."""
    from toolkit.io import atomic_file

    config = plan.config
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_file(out / "config.yaml") as fh:
        yaml.safe_dump(config.model_dump(mode="json"), fh, sort_keys=False)
    if model is None:
        model, tokenizer = load_policy(config.model)
    if tokenizer is None:
        raise ValueError("run_stage needs the tokenizer that goes with the model")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    # on resume too: the checkpoint's adapter was trained on the warm-started base
    model = apply_warm_start(config.warm_start, model, tokenizer, plan)
    final = out / FINAL
    if config.grpo.max_steps == 0:  # the warm start alone is the result
        save_model(model, tokenizer, plan, final, 0)
        return TrainResult(out, final, 0, out / METRICS)
    metrics = MetricsCallback(
        out / METRICS,
        tensorboard_dir=out / "tensorboard",
        progress=False,
        extra={"stage": plan.stage, "logprobs": config.logprobs},
    )
    objective = "GRPO" if plan.trainer_factory is None else "exact"
    shown = [StageProgress(f"{plan.stage} ({objective})")] if progress else []
    if plan.trainer_factory is not None:
        trainer = plan.trainer_factory(
            plan, model, tokenizer, callbacks=[metrics, *shown, *callbacks]
        )
        quiet_trainer(trainer)
    else:
        trainer = build_trainer(
            plan,
            model,
            tokenizer,
            generator_factory=generator_factory,
            callbacks=[metrics, *shown, *callbacks],
        )
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    save_final(trainer, tokenizer, plan, final)
    return TrainResult(out, final, trainer.state.global_step, out / METRICS, trainer)


def check_completion_budget(plan: StagePlan) -> None:
    """Refuse a ``grpo.max_completion_length`` below the largest grammar bound of the plan's
    prompts: the rollout would cut such a completion into invalid output (a JSON array
    without its ``]``) and train on it."""
    if plan.trainer_factory is not None:  # no sampling, no completion budget
        return
    bounds = [c.max_tokens for c in plan.table.constraints.values() if c is not None]
    worst = max(bounds, default=0)
    budget = plan.config.grpo.max_completion_length
    if worst > budget:
        raise ConfigError(
            f"grpo.max_completion_length: {budget} is below the grammar's bound of {worst} "
            f"tokens for some prompts of this {plan.stage} run; a completion could be cut into "
            f"invalid output. Set grpo.max_completion_length={worst} (or more)."
        )


def train_stage(
    config: _StageConfig,
    make_plan: Callable[[Any], StagePlan],
    *,
    model: Any = None,
    tokenizer: Any = None,
    resume: bool = False,
    overwrite: bool = False,
    **run_options: Any,
) -> TrainResult:
    """What both stages do: check the output folder, load the policy unless given, build
    the stage's plan with its tokenizer (``make_plan``) and run it."""
    checkpoint = prepare_output(config.output_dir, resume=resume, overwrite=overwrite)
    if model is None:
        model, tokenizer = load_policy(config.model)
    plan = make_plan(tokenizer)
    check_completion_budget(plan)
    return run_stage(plan, model=model, tokenizer=tokenizer, checkpoint=checkpoint, **run_options)
