"""The ``heuristic`` warm start: supervised fine-tuning on rule-based verbalizations.

Before GRPO the verbalizer policy is taught, with TRL's ``SFTTrainer``, to answer each
training prompt with the rule-based output for that history (``heuristic_actions`` for
the actions policy, ``heuristic_rewrite`` for the rewrite policy). This teaches the
output format and a sensible starting policy, so that GRPO's groups are not all-zero
reward. The SFT LoRA adapter is merged into the weights, so GRPO's own adapter sits on a
warm-started base; the stage therefore saves its final model merged.

The merged model is cached beside the stage's output folder (``<output_dir>/../.warm-start/``)
under a key made of the base weights' fingerprint, the SFT targets and the settings: stages
that share a policy and training rows (the rewrite rows of an experiment, a resumed run)
warm-start once and load the same weights afterwards. The folder holds the tokenizer too,
so the warm-started policy itself can be evaluated (``vtk eval --model <folder>``): the
starting point against which GRPO's gain is measured.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from toolkit.cache import model_fingerprint  # the weights hash, shared with the cache
from toolkit.errors import ConfigError
from trainers.warm_start import WARM_STARTS

HEURISTIC_FOR = {
    "actions": "heuristic_actions",
    "numbered_actions": "heuristic_actions",
    "rewrite": "heuristic_rewrite",
}
"""Which rule-based verbalizer gives the targets for a policy."""


class SFTSettings(BaseModel):
    """Warm-start schedule (kept small: it runs before Stage 1 on CPU). Set in a stage
    config's ``warm_start_options``."""

    model_config = ConfigDict(extra="forbid")

    max_steps: int = Field(12, ge=1)
    learning_rate: float = Field(2e-4, gt=0)
    batch_size: int = Field(4, ge=1)
    lora_r: int = Field(16, ge=1)
    max_length: int = Field(1024, ge=16)
    seed: int = 0
    cache: bool = True
    """Reuse (and store) the merged model beside the output folder."""


def heuristic_targets(plan: Any) -> list[dict[str, Any]]:
    """Conversational prompt/completion rows: the policy's prompt -> the rule-based output."""
    from toolkit.verbalizers import get_verbalizer

    reward = plan.reward
    policy = reward.policy
    name = HEURISTIC_FOR.get(policy.name)
    if name is None:
        raise ValueError(
            f"no heuristic warm start for verbalizer {policy.name!r}; "
            f"have: {', '.join(sorted(HEURISTIC_FOR))}"
        )
    heuristic = get_verbalizer(name)(domain=policy.domain)
    rows = []
    for row in plan.rows:
        ex = reward.examples[row["example_id"]]
        target = heuristic.target(ex.history, reward.catalog)
        if hasattr(policy, "plan_text"):  # the rules' codes in the policy's own plan format
            target = policy.plan_text(json.loads(target))
        rows.append(
            {
                "prompt": [{"role": "user", "content": row["prompt"]}],
                "completion": [{"role": "assistant", "content": target}],
            }
        )
    return rows


def sft(model: Any, tokenizer: Any, rows: list[dict[str, Any]], settings: SFTSettings) -> Any:
    """LoRA SFT on ``rows`` (loss on the completion only), merged back into the model."""
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from trainers.config import resolve_device
    from trainers.logging import SFT_SUMMARY, StageProgress, quiet_trainer

    on_cpu = resolve_device("auto") == "cpu"
    with tempfile.TemporaryDirectory(prefix="vtk-sft-") as tmp:
        args = SFTConfig(
            output_dir=tmp,
            use_cpu=on_cpu,
            bf16=False,
            max_steps=settings.max_steps,
            learning_rate=settings.learning_rate,
            per_device_train_batch_size=settings.batch_size,
            max_length=settings.max_length,
            completion_only_loss=True,
            activation_checkpointing=False,
            lr_scheduler_type="constant",
            save_strategy="no",
            report_to="none",
            logging_steps=max(1, settings.max_steps // 4),
            seed=settings.seed,
            disable_tqdm=True,
        )
        peft_config = LoraConfig(
            r=settings.lora_r,
            lora_alpha=2 * settings.lora_r,
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
            task_type="CAUSAL_LM",
        )
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=[StageProgress("warm start (SFT)", SFT_SUMMARY)],
        )
        quiet_trainer(trainer)
        trainer.train()
        merged = trainer.model.merge_and_unload()
    merged.eval()
    return merged


def cache_key(model: Any, rows: list[dict[str, Any]], settings: SFTSettings) -> str:
    """Same base weights, targets and schedule -> same key (``cache`` itself excluded)."""
    spec = {
        "model": model_fingerprint(model),
        "rows": rows,
        "settings": settings.model_dump(exclude={"cache"}),
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def cache_dir(config: Any) -> Path:
    """Where a stage's warm-started models are kept: beside its output folder."""
    return Path(config.output_dir).resolve().parent / ".warm-start"


def settings_from(options: dict[str, Any]) -> SFTSettings:
    try:
        return SFTSettings(**options)
    except ValidationError as exc:
        problems = "; ".join(
            f"warm_start_options.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(problems) from None


@WARM_STARTS.register("heuristic")
def heuristic_warm_start(model: Any, tokenizer: Any, plan: Any) -> Any:
    """SFT the policy on the rule-based outputs for the stage's own training prompts
    (loaded from the cache when the same warm start ran before)."""
    from transformers import AutoModelForCausalLM

    from toolkit.io import atomic_dir, write_json

    settings = settings_from(getattr(plan.config, "warm_start_options", None) or {})
    rows = heuristic_targets(plan)
    if not settings.cache:
        return sft(model, tokenizer, rows, settings)
    folder = cache_dir(plan.config) / f"heuristic-{cache_key(model, rows, settings)}"
    if (folder / "config.json").is_file():
        cached = AutoModelForCausalLM.from_pretrained(folder, dtype=model.dtype)
        return cached.to(model.device).eval()
    merged = sft(model, tokenizer, rows, settings)
    with atomic_dir(folder) as tmp:  # a model folder ``load_model`` (and ``vtk eval``) reads
        merged.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json(
            tmp / "vtk.json",
            {
                "warm_start": "heuristic",
                "verbalizer": plan.reward.policy.name,
                "targets": HEURISTIC_FOR[plan.reward.policy.name],
                "rows": len(rows),
                "settings": settings.model_dump(),
            },
        )
    return merged
