"""Stage 2's exact objective: the reasoner's answer is one label among n, so no sampling.

Under the ``choice`` grammar the reasoner's answer is a single label token, so one forward
(``logits_to_keep=1``) gives the policy's whole answer distribution: ``p = softmax(z)`` over
the n label logits ``z``, and every label's reward ``r_a`` is known (``rewards.kind``, e.g.
+1 for the target and -1 otherwise). Sampled GRPO estimates, from G draws ``a_i``, the
update ``(1/G) sum_i A_i grad log p(a_i)`` with ``A_i = (r_i - mean) / std``; when all G
draws agree the group teaches nothing (``frac_reward_zero_std``). Its large-G limit is
exact and cheap:

    E[A grad log p(a)] = (1 / sigma) * sum_a (r_a - mu) grad p_a,
    mu = sum_a p_a r_a,   sigma^2 = sum_a p_a (r_a - mu)^2.

``form: grpo`` (default) minimises the surrogate ``-sum_a sg((r_a - mu) / sigma) p_a``
whose gradient is exactly that (``sg``: no gradient through mu and sigma). For a binary
reward it is gradient ascent on ``2 arcsin(sqrt(p_target))`` (Davis & Recht, arXiv
2510.13651): its gradient ``grad p / sqrt(p (1 - p))`` stays useful when ``p`` is small,
where the plain expected reward's ``2 grad p`` (``form: expected``, minimising
``-sum_a p_a r_a``) fades. We default to ``grpo`` because it is what the paper's sampled
GRPO optimises in expectation, without its zero-variance groups and sampling noise. A KL
to the reference (the model with the adapter off) is exact too: ``beta * KL(p || p_ref)``
over the n labels.

Position: each epoch shows every example's candidates in a new seeded order
(``trainers.stage2.reasoner_rows(epochs=...)``), so the reasoner cannot learn a slot.
The trainer is transformers' ``Trainer`` (checkpoints, resume, LoRA via peft, the same
metrics callback as GRPO) with this loss; ``trainers.run`` saves its result like GRPO's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from transformers import Trainer, TrainerCallback

if TYPE_CHECKING:
    import torch

ExactForm = Literal["grpo", "expected"]


def exact_loss(
    label_logits: torch.Tensor,
    rewards: torch.Tensor,
    *,
    form: ExactForm = "grpo",
    ref_logits: torch.Tensor | None = None,
    beta: float = 0.0,
    valid: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Mean loss over a batch of ``[B, n]`` label logits and per-label rewards; labels past
    an example's own count are masked by ``valid`` (``[B, n]`` booleans).

    >>> import torch
    >>> z = torch.zeros(1, 2, requires_grad=True)
    >>> loss, _ = exact_loss(z, torch.tensor([[1.0, -1.0]]))
    >>> loss.backward()
    >>> z.grad  # d/dz of -2*arcsin(sqrt(p0)) at p0 = 1/2: -(p0 (1 - p0))^0.5 * (1, -1)
    tensor([[-0.5000,  0.5000]])
    """
    import torch

    if valid is not None:
        label_logits = label_logits.masked_fill(~valid, float("-inf"))
    logp = label_logits.float().log_softmax(-1)
    p = logp.exp()
    r = rewards.float().masked_fill(~valid, 0.0) if valid is not None else rewards.float()
    with torch.no_grad():
        mu = (p * r).sum(-1, keepdim=True)
        var = (p * (r - mu) ** 2).sum(-1, keepdim=True)
        sigma = var.clamp_min(0).sqrt()
    if form == "grpo":
        advantage = torch.where(sigma > 1e-6, (r - mu) / sigma.clamp_min(1e-6), 0.0)
        per_example = -(p * advantage).sum(-1)
    elif form == "expected":
        per_example = -(p * r).sum(-1)
    else:
        raise ValueError(f"exact objective form must be 'grpo' or 'expected', got {form!r}")
    stats = {"expected_reward": mu.squeeze(-1), "reward_std": sigma.squeeze(-1)}
    if ref_logits is not None and beta > 0:
        if valid is not None:
            ref_logits = ref_logits.masked_fill(~valid, float("-inf"))
        ref = ref_logits.float().log_softmax(-1)
        kl = (p * (logp - ref).masked_fill(p == 0, 0.0)).sum(-1)
        per_example = per_example + beta * kl
        stats["kl"] = kl.detach()
    return per_example.mean(), stats


class LabelCollator:
    """Rows (``input_ids``, ``label_rewards``, ``n_labels``) -> a left-padded batch."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, rows: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        import torch

        width = max(len(r["input_ids"]) for r in rows)
        n = max(len(r["label_rewards"]) for r in rows)
        ids = [[self.pad_id] * (width - len(r["input_ids"])) + list(r["input_ids"]) for r in rows]
        mask = [[0] * (width - len(r["input_ids"])) + [1] * len(r["input_ids"]) for r in rows]
        rewards = [list(r["label_rewards"]) + [0.0] * (n - len(r["label_rewards"])) for r in rows]
        valid = [[k < len(r["label_rewards"]) for k in range(n)] for r in rows]
        return {
            "input_ids": torch.tensor(ids),
            "attention_mask": torch.tensor(mask),
            "label_rewards": torch.tensor(rewards),
            "label_valid": torch.tensor(valid),
            "target_slot": torch.tensor([r["target_slot"] for r in rows]),
        }


class ExactLabelTrainer(Trainer):
    """transformers' Trainer whose loss is ``exact_loss`` over the label tokens' logits at
    the prompt's last position. ``label_ids``: the token id of each label, in slot order."""

    def __init__(
        self,
        *args: Any,
        label_ids: Sequence[int],
        form: ExactForm = "grpo",
        beta: float = 0.0,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.label_ids = list(label_ids)
        self.form = form
        self.beta = beta
        self._window: dict[str, list[float]] = {}
        self.add_callback(_StepTimer(self))

    def label_logits(self, model: Any, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        from trainers.shared_prompt import position_ids

        mask = inputs["attention_mask"]
        out = model(
            input_ids=inputs["input_ids"],
            attention_mask=mask,
            position_ids=position_ids(mask),
            logits_to_keep=1,
        )
        n = inputs["label_rewards"].size(1)
        return out.logits[:, -1, self.label_ids[:n]]

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, **_: Any
    ) -> Any:
        import torch

        logits = self.label_logits(model, inputs)
        ref = None
        if self.beta > 0:
            with torch.no_grad(), _adapter_off(model):
                ref = self.label_logits(model, inputs)
        valid = inputs["label_valid"]
        loss, stats = exact_loss(
            logits,
            inputs["label_rewards"],
            form=self.form,
            ref_logits=ref,
            beta=self.beta,
            valid=valid,
        )
        with torch.no_grad():
            masked = logits.masked_fill(~valid, float("-inf"))
            slot = inputs["target_slot"]
            p_target = masked.softmax(-1).gather(1, slot[:, None])[:, 0]
            picks = masked.argmax(-1)
            self._record("reward", stats["expected_reward"])
            self._record("reward_std", stats["reward_std"])
            self._record("accuracy", (picks == slot).float())
            self._record("reasoner/p_target", p_target)
            self._record("reasoner/first_slot", (picks == 0).float())
            if "kl" in stats:
                self._record("kl", stats["kl"])
        return (loss, logits) if return_outputs else loss

    def _record(self, key: str, values: torch.Tensor) -> None:
        self._window.setdefault(key, []).extend(values.float().tolist())

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        for key, values in self._window.items():
            if values:
                logs[key] = sum(values) / len(values)
        self._window = {}
        super().log(logs, *args, **kwargs)


class _StepTimer(TrainerCallback):
    """Seconds per optimizer step, logged as ``time/step`` like the GRPO trainer's."""

    def __init__(self, trainer: ExactLabelTrainer):
        self.trainer = trainer
        self._start = 0.0

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._start = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.trainer._window.setdefault("time/step", []).append(time.perf_counter() - self._start)


def _adapter_off(model: Any) -> Any:
    import contextlib

    base = getattr(model, "module", model)
    if hasattr(base, "disable_adapter"):
        return base.disable_adapter()
    return contextlib.nullcontext()


def exact_args(config: Any, checkpoint_dir: Any) -> Any:
    """transformers' ``TrainingArguments`` for the exact objective: the fields every vtk
    trainer shares (the stage's ``grpo`` optimisation settings; sampling ones are unused)."""
    from transformers import TrainingArguments

    from trainers.config import training_kwargs

    return TrainingArguments(**training_kwargs(config, checkpoint_dir))


def exact_trainer_factory(tokenizer: Any) -> Any:
    """The ``StagePlan.trainer_factory`` of Stage 2's exact objective."""

    def build(plan: Any, model: Any, tokenizer_: Any, *, callbacks: Sequence[Any] = ()) -> Any:
        from datasets import Dataset
        from transformers import PrinterCallback

        from grammars.choice import choice_labels
        from trainers.run import CHECKPOINTS

        config = plan.config
        if config.model.lora is not None:
            from peft import get_peft_model

            model = get_peft_model(model, config.model.lora.to_peft())
        n = max(len(r["label_rewards"]) for r in plan.rows)
        label_ids = []
        for label in choice_labels(n):
            ids = tokenizer.encode(label, add_special_tokens=False)
            if len(ids) != 1:
                raise ValueError(
                    f"label {label!r} is {len(ids)} tokens; the exact objective "
                    "needs one token per label"
                )
            label_ids.append(ids[0])
        trainer = ExactLabelTrainer(
            model=model,
            args=exact_args(config, config.output_dir / CHECKPOINTS),
            train_dataset=Dataset.from_list(plan.rows),
            data_collator=LabelCollator(tokenizer.pad_token_id),
            processing_class=tokenizer,
            callbacks=list(callbacks),
            label_ids=label_ids,
            form=config.exact_form,
            beta=config.grpo.beta,
        )
        trainer.remove_callback(PrinterCallback)
        return trainer

    return build
