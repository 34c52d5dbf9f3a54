"""The ``heuristic`` warm start: supervised fine-tuning on rule-based verbalizations.

Before GRPO the verbalizer policy is taught, with TRL's ``SFTTrainer``, to answer each
training prompt with the rule-based output for that history (``heuristic_actions`` for
the actions policy, ``heuristic_rewrite`` for the rewrite policy). This teaches the
output format and a sensible starting policy, so that GRPO's groups are not all-zero
reward. The SFT LoRA adapter is merged into the weights, so GRPO's own adapter sits on a
warm-started base; the stage therefore saves its final model merged.
"""

from __future__ import annotations

import tempfile
from typing import Any

from pydantic import BaseModel, Field

from trainers.warm_start import WARM_STARTS

HEURISTIC_FOR = {"actions": "heuristic_actions", "rewrite": "heuristic_rewrite"}
"""Which rule-based verbalizer gives the targets for a policy."""


class SFTSettings(BaseModel):
    """Warm-start schedule (kept small: it runs before every Stage 1 on CPU)."""

    max_steps: int = Field(12, ge=1)
    learning_rate: float = Field(2e-4, gt=0)
    batch_size: int = Field(4, ge=1)
    lora_r: int = Field(16, ge=1)
    max_length: int = Field(1024, ge=16)
    seed: int = 0


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
        rows.append(
            {
                "prompt": [{"role": "user", "content": row["prompt"]}],
                "completion": [
                    {"role": "assistant", "content": heuristic.target(ex.history, reward.catalog)}
                ],
            }
        )
    return rows


def sft(model: Any, tokenizer: Any, rows: list[dict[str, Any]], settings: SFTSettings) -> Any:
    """LoRA SFT on ``rows`` (loss on the completion only), merged back into the model."""
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from trainers.config import resolve_device

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
        )
        trainer.train()
        merged = trainer.model.merge_and_unload()
    merged.eval()
    return merged


@WARM_STARTS.register("heuristic")
def heuristic_warm_start(model: Any, tokenizer: Any, plan: Any) -> Any:
    """SFT the policy on the rule-based outputs for the stage's own training prompts."""
    settings = SFTSettings(**getattr(plan.config, "warm_start_options", None) or {})
    return sft(model, tokenizer, heuristic_targets(plan), settings)
