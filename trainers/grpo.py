"""``VtkGRPOTrainer``: TRL's GRPOTrainer scoring the sampler's own distribution, cheaply.

The sampler draws every token from the grammar-masked, temperature-scaled (and possibly
truncated) distribution, so the policy gradient, the clipped ratio and the KL must use that
distribution too; TRL's full-vocabulary log-softmax is biased by the mass the grammar
forbids. The rollout returns, with every completion, the packed support of the
distribution each token was drawn from (``trainers.rollout.SUPPORT_KEY``); the trainer
carries those int32 words through TRL's shuffle and split as one more batch key and, with
``logprobs="masked"``, scores the policy, old and reference log-probs over that support
(``trainers.masked_logprobs.token_logprobs``, chunked over positions so no
full-vocabulary float tensor of the batch is alive). ``"unmasked"`` takes the
full-vocabulary log-softmax from the same forward (TRL's math), so the two modes differ by
the mask alone.

The forward itself is the shared-prompt one (``trainers.shared_prompt``): each distinct
prompt of a micro-batch runs once and its completions attend to its cache
(``shared_prompt=False`` keeps the plain ``prompt + completion`` rows for comparison).

Both modes log the mean |trainer - sampler| log-prob per token (``sampler_abs_diff``, ~0
on policy); the masked mode logs, on the gradient pass only, the masked-minus-unmasked gap
per sequence. Everything else (advantages normalised per group, the clipped objective, the
KL to the reference, checkpoints) is TRL's. The overrides are the hooks that touch rows:
``_generate`` (take the supports), ``_generate_and_score_completions`` (carry them),
``_compute_loss`` (select them) and ``_get_per_token_logps_and_entropies`` (use them);
``_calculate_rewards`` and ``training_step`` are wrapped only to time them.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from transformers import TrainerCallback
from trl import GRPOTrainer

from trainers.rollout import CONSTRAINT_KEY, GAP_KEY, SUPPORT_KEY

if TYPE_CHECKING:
    import torch

SUPPORTS_KEY = "vtk_support"
"""The batch key of the packed supports ``[B, T, W]`` (int32) after ``_generate``."""
PHASES = ("generation", "reward", "credit", "logprob", "backward", "optimizer")


class PhaseTimes:
    """Seconds spent per phase within the current optimizer step."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def measure(self, phase: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] += time.perf_counter() - start

    def add(self, phase: str, seconds: float) -> None:
        self.seconds[phase] += seconds

    def step_summary(self) -> dict[str, float]:
        """This step's phases (``backward`` = training step minus the measured parts,
        i.e. the loss and its backward pass), then reset."""
        s = self.seconds
        inside = sum(s.get(p, 0.0) for p in ("generation", "reward", "credit", "logprob"))
        out = {p: s.get(p, 0.0) for p in PHASES if p not in ("backward",)}
        out["backward"] = max(0.0, s.get("train_step", 0.0) - inside)
        out["step"] = s.get("train_step", 0.0) + s.get("optimizer", 0.0)
        self.seconds = defaultdict(float)
        return out


class _PhaseCallback(TrainerCallback):
    """Times the optimizer step and files the step's phase times with TRL's metrics."""

    def __init__(self, trainer: VtkGRPOTrainer):
        self.trainer = trainer
        self._start = 0.0

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._start = time.perf_counter()

    def on_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.trainer.phases.add("optimizer", time.perf_counter() - self._start)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        metrics = self.trainer._metrics["train"]
        for phase, seconds in self.trainer.phases.step_summary().items():
            metrics[f"time/{phase}"].append(seconds)


def fit_length(support: torch.Tensor, length: int) -> torch.Tensor:
    """Crop or pad (with all-allowed words) the token axis of ``[B, T, W]`` supports."""
    import torch

    t = support.size(1)
    if t == length:
        return support
    if t > length:
        return support[:, :length]
    pad = torch.full(
        (support.size(0), length - t, support.size(2)),
        -1,
        dtype=support.dtype,
        device=support.device,
    )
    return torch.cat([support, pad], dim=1)


def stack_supports(rows: Sequence[Any], vocab_size: int) -> torch.Tensor:
    """Per-completion ``[T_i, W]`` supports -> one ``[B, T_max, W]`` tensor; rows without
    one (None) and positions past a row's end allow every token."""
    import torch

    from toolkit.backends.bitmask import full

    width = max((len(r) for r in rows if r is not None), default=1)
    out = full((len(rows), width), vocab_size)
    for b, row in enumerate(rows):
        if row is not None and len(row):
            out[b, : len(row)] = torch.as_tensor(row, dtype=torch.int32)
    return out


class VtkGRPOTrainer(GRPOTrainer):
    """GRPO with grammar-constrained rollouts, the sampler's distribution in the loss and a
    shared-prompt forward.

    Takes TRL's arguments plus ``logprobs`` (``masked`` | ``unmasked``), ``shared_prompt``
    (encode each distinct prompt once per micro-batch) and ``chunk_tokens`` (rows x
    positions of logits alive at once). The rollout must be a
    ``trainers.rollout.ConstrainedRollout`` (it returns each completion's supports)."""

    def __init__(
        self,
        *args: Any,
        logprobs: str = "masked",
        shared_prompt: bool = True,
        chunk_tokens: int = 2048,
        line_credit: Any = None,
        credit_weight: float = 0.0,
        **kwargs: Any,
    ):
        if logprobs not in ("masked", "unmasked"):
            raise ValueError(f"logprobs must be 'masked' or 'unmasked', got {logprobs!r}")
        self.logprob_mode = logprobs
        self.shared_prompt = shared_prompt
        self.chunk_tokens = chunk_tokens
        self.line_credit = line_credit
        self.credit_weight = credit_weight
        self.phases = PhaseTimes()
        self._support: torch.Tensor | None = None
        self._sampling_logps: torch.Tensor | None = None
        super().__init__(*args, **kwargs)
        if self.use_vllm and self.vllm_importance_sampling_correction:
            raise ValueError(
                "TRL's vLLM importance-sampling correction compares the sampler's masked "
                "log-probs with unmasked training ones; turn it off with constrained rollouts"
            )
        self.add_callback(_PhaseCallback(self))

    # ------------------------------------------------------------------ rollout side

    def _mode(self) -> str:
        return "train" if self.model.training else "eval"

    def _vocab_size(self) -> int:
        return self.accelerator.unwrap_model(self.model).config.get_text_config().vocab_size

    def _generate(self, prompts: list[Any]) -> Any:
        with self.phases.measure("generation"):
            result = super()._generate(prompts)
        extra = result[5]
        extra.pop(CONSTRAINT_KEY, None)
        supports = extra.pop(SUPPORT_KEY, None)
        gaps = extra.pop(GAP_KEY, None)
        if gaps:
            self._metrics[self._mode()]["logprobs/sampler_masked_minus_unmasked"].append(
                statistics.fmean(gaps)
            )
        self._support = None
        if self.logprob_mode == "masked":
            if supports is None:
                raise RuntimeError(
                    "masked log-probs need the sampler's supports: train with "
                    "rollout_func=trainers.rollout.ConstrainedRollout(...)"
                )
            self._support = stack_supports(supports, self._vocab_size())
        return result

    def _generate_and_score_completions(self, inputs: Any) -> dict[str, Any]:
        output = super()._generate_and_score_completions(inputs)
        if self._support is not None:
            output[SUPPORTS_KEY] = fit_length(self._support, output["completion_ids"].size(1))
        if self.line_credit is not None and self.credit_weight > 0:
            with self.phases.measure("credit"):
                self._credit_lines(inputs, output)
        return output

    def _credit_lines(self, inputs: Any, output: dict[str, Any]) -> None:
        """Per-line credit (``trainers.credit``): each plan line's code tokens get their own
        advantage on top of the sequence's. Single process (the CPU/one-GPU case)."""
        from trainers.credit import token_advantages

        if self.accelerator.num_processes > 1:
            raise NotImplementedError("per-line credit runs on one process")
        ids, mask = output["completion_ids"], output["completion_mask"]
        texts = self.processing_class.batch_decode(ids, skip_special_tokens=True)
        credits = self.line_credit(texts, [row["example_id"] for row in inputs])
        output["advantages"], rms = token_advantages(
            output["advantages"], ids, mask, credits, self.processing_class, self.credit_weight
        )
        metrics = self._metrics[self._mode()]
        metrics["credit/rms"].append(rms)
        metrics["credit/lines"].append(sum(len(c) for c in credits) / max(len(credits), 1))

    def _calculate_rewards(self, *args: Any, **kwargs: Any) -> Any:
        with self.phases.measure("reward"):
            return super()._calculate_rewards(*args, **kwargs)

    # ------------------------------------------------------------------ loss side

    def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> Any:
        start = time.perf_counter()
        try:
            return super().training_step(model, inputs, num_items_in_batch)
        finally:
            self.phases.add("train_step", time.perf_counter() - start)

    def _compute_loss(self, model: Any, inputs: dict[str, Any]) -> Any:
        self._support = inputs.get(SUPPORTS_KEY)
        self._sampling_logps = inputs.get("sampling_per_token_logps")
        return super()._compute_loss(model, inputs)

    def _get_per_token_logps_and_entropies(
        self,
        model: Any,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        logits_to_keep: int,
        batch_size: int | None = None,
        compute_entropy: bool = False,
        compute_aux_loss: bool = False,
        **extra: Any,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        with self.phases.measure("logprob"):
            if compute_aux_loss or any(v is not None for v in extra.values()):
                raise NotImplementedError("vtk log-probs support text-only dense models")
            if self.logprob_mode == "masked" and self._support is None:
                raise RuntimeError("masked log-probs requested but no sampler supports are loaded")
            return self._token_logps(
                model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy
            )

    def _token_logps(
        self,
        model: Any,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        logits_to_keep: int,
        batch_size: int | None,
        compute_entropy: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None, None]:
        """Per-token log-probs of the completion, masked or not (both modes share this
        forward, so comparing them measures the mask alone), from the shared-prompt
        forward's hidden states, chunked over positions."""
        import torch

        from trainers.masked_logprobs import token_logprobs
        from trainers.shared_prompt import completion_hidden, decoder_and_head

        masked = self.logprob_mode == "masked"
        support_all = fit_length(self._support, logits_to_keep) if masked else None
        size = batch_size or input_ids.size(0)
        _, head = decoder_and_head(model)
        grad = torch.is_grad_enabled()
        logps, entropies, gaps = [], [], []
        refused = tokens = 0
        for start in range(0, input_ids.size(0), size):
            end = min(start + size, input_ids.size(0))
            ids, am = input_ids[start:end], attention_mask[start:end]
            completion = ids[:, -logits_to_keep:]
            valid = am[:, -logits_to_keep:].bool()
            with self.accelerator.autocast():
                hidden = completion_hidden(
                    model, ids, am, logits_to_keep, shared=self.shared_prompt
                )
                out = token_logprobs(
                    hidden,
                    head,
                    completion,
                    valid,
                    support=None if support_all is None else support_all[start:end],
                    temperature=self.temperature,
                    chunk_tokens=self.chunk_tokens,
                    entropy=compute_entropy,
                    entropy_grad=self._entropy_bonus_enabled and grad,
                )
            logps.append(out["logps"])
            if compute_entropy:
                entropies.append(out["entropy"])
            gaps.append(out["gap"])
            refused += int(out["refused"])
            tokens += int(valid.sum())
        logps_all = torch.cat(logps)
        if grad:  # the policy forward, once per micro-batch
            self._log_sampler_diff(logps_all.detach(), attention_mask[:, -logits_to_keep:])
            if masked:
                metrics = self._metrics[self._mode()]
                metrics["logprobs/masked_minus_unmasked"].append(torch.cat(gaps).mean().item())
                metrics["logprobs/support_refused"].append(refused / max(tokens, 1))
        return logps_all, (torch.cat(entropies) if compute_entropy else None), None

    def _log_sampler_diff(self, logps: torch.Tensor, valid: torch.Tensor) -> None:
        """Mean |trainer - sampler| log-prob per token: ~0 while the batch is on policy
        (first pass over a generation batch)."""
        import torch

        sampled = self._sampling_logps
        if sampled is None or sampled.shape != logps.shape:
            return
        mask = valid.bool() & torch.isfinite(sampled)
        diff = (logps - sampled.to(logps.device)).abs()[mask]
        if diff.numel():
            self._metrics[self._mode()]["logprobs/sampler_abs_diff"].append(diff.mean().item())
