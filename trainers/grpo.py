"""``VtkGRPOTrainer``: TRL's GRPOTrainer with grammar-masked log-probs and phase timings.

The sampler draws every token from the grammar-masked, renormalised distribution, so the
policy gradient (and the clipped ratio, and the KL) must use that distribution too; TRL's
full-vocabulary log-softmax is biased by the mass of the tokens the grammar forbids. With
``logprobs="masked"`` the trainer replays each row's constraint on its completion ids once
per generation batch (``trainers.masked_logprobs.allowed_masks``), carries the boolean
masks through TRL's shuffle and split as one more batch key, and computes the policy, old
and reference log-probs as a log-softmax over the allowed tokens only. ``"unmasked"``
takes the full-vocabulary log-softmax from the same forward pass (TRL's math), so the two
modes differ by the mask alone. Both modes log the mean |trainer - sampler| log-prob per
token; the masked mode also logs the masked-minus-unmasked gap per sequence, which the
rollout logs from the sampler's side in both modes.

Everything else (advantages normalised per group, the clipped objective, the KL to the
reference, checkpoints) is TRL's. The overrides are the hooks that touch rows:
``_generate`` (masks), ``_generate_and_score_completions`` (carry them),
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

from trainers.rollout import CONSTRAINT_KEY, GAP_KEY

if TYPE_CHECKING:
    import torch

    from grammars.base import Constraint

ALLOWED_KEY = "vtk_allowed"
ROW_CONSTRAINTS_KEY = "vtk_constraints"
PHASES = ("generation", "reward", "logprob_masks", "logprob", "backward", "optimizer")


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
        inside = sum(s.get(p, 0.0) for p in ("generation", "reward", "logprob_masks", "logprob"))
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


def fit_length(allowed: torch.Tensor, length: int) -> torch.Tensor:
    """Crop or pad (with all-True rows) the token axis of ``[B, T, V]`` masks to ``length``."""
    import torch

    t = allowed.size(1)
    if t == length:
        return allowed
    if t > length:
        return allowed[:, :length]
    pad = torch.ones(
        allowed.size(0), length - t, allowed.size(2), dtype=torch.bool, device=allowed.device
    )
    return torch.cat([allowed, pad], dim=1)


def repair_masks(
    allowed: torch.Tensor, completion_ids: torch.Tensor, valid: torch.Tensor
) -> tuple[torch.Tensor, int]:
    """Padding positions allow everything (so no row is all ``-inf``) and the sampled token
    is always allowed (so a replay that disagrees with the sampler cannot yield an
    infinite loss); return the masks and how many real tokens the replay had refused."""
    hit = allowed.gather(-1, completion_ids.unsqueeze(-1)).squeeze(-1)
    refused = int((~hit & valid).sum())
    allowed = allowed | ~valid.unsqueeze(-1)
    if refused:
        allowed = allowed.clone()
        allowed.scatter_(-1, completion_ids.unsqueeze(-1), True)
    return allowed, refused


def masked_entropy(logits: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
    """Entropy of the renormalised distribution over the allowed tokens (all tokens when
    ``allowed`` is None), ``[B, T]``."""
    if allowed is None:
        logp = logits.log_softmax(-1)
        return -(logp.exp() * logp).sum(-1)
    logp = logits.masked_fill(~allowed, float("-inf")).log_softmax(-1)
    return -(logp.exp() * logp.masked_fill(~allowed, 0.0)).sum(-1)


class VtkGRPOTrainer(GRPOTrainer):
    """GRPO with grammar-constrained rollouts and (optionally) grammar-masked log-probs.

    Takes TRL's arguments plus ``logprobs`` (``masked`` | ``unmasked``). The rollout must
    be a ``trainers.rollout.ConstrainedRollout`` (it reports each row's constraint)."""

    def __init__(self, *args: Any, logprobs: str = "masked", **kwargs: Any):
        if logprobs not in ("masked", "unmasked"):
            raise ValueError(f"logprobs must be 'masked' or 'unmasked', got {logprobs!r}")
        self.logprob_mode = logprobs
        self.phases = PhaseTimes()
        self._allowed: torch.Tensor | None = None
        self._sampling_logps: torch.Tensor | None = None
        self._constraints: list[Constraint | None] | None = None
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

    def _generate(self, prompts: list[Any]) -> Any:
        with self.phases.measure("generation"):
            result = super()._generate(prompts)
        completion_ids, extra = result[1], result[5]
        constraints = extra.pop(CONSTRAINT_KEY, None)
        gaps = extra.pop(GAP_KEY, None)
        if gaps:
            self._metrics[self._mode()]["logprobs/sampler_masked_minus_unmasked"].append(
                statistics.fmean(gaps)
            )
        self._allowed = None
        self._constraints = constraints
        if self.logprob_mode == "masked":
            if constraints is None:
                raise RuntimeError(
                    "masked log-probs need the rows' constraints: train with "
                    "rollout_func=trainers.rollout.ConstrainedRollout(...)"
                )
            with self.phases.measure("logprob_masks"):
                self._allowed = self.allowed_masks(constraints, completion_ids)
        return result

    def allowed_masks(
        self, constraints: Sequence[Constraint | None], completion_ids: Sequence[Sequence[int]]
    ) -> torch.Tensor:
        """Replay each row's grammar on its completion: ``[B, T_max, V]`` booleans (CPU)."""
        import torch

        from trainers.masked_logprobs import allowed_masks

        width = max(len(ids) for ids in completion_ids)
        pad = self._tokenizer.pad_token_id
        ids = torch.tensor([list(r) + [pad] * (width - len(r)) for r in completion_ids])
        vocab = self.accelerator.unwrap_model(self.model).config.get_text_config().vocab_size
        return allowed_masks(list(constraints), self._tokenizer, ids, vocab)

    def _generate_and_score_completions(self, inputs: Any) -> dict[str, Any]:
        output = super()._generate_and_score_completions(inputs)
        if self._constraints is not None:
            output[ROW_CONSTRAINTS_KEY] = list(self._constraints)
        if self._allowed is not None:
            output[ALLOWED_KEY] = fit_length(self._allowed, output["completion_ids"].size(1))
        return output

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
        self._allowed = inputs.get(ALLOWED_KEY)
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
            if self.logprob_mode == "masked" and self._allowed is None:
                raise RuntimeError("masked log-probs requested but no grammar masks are loaded")
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
        """Per-token log-probs of the completion, masked or not, from the logits of the
        completion positions only (both modes share this forward, so comparing them
        measures the mask alone; TRL's fused head scores every position on CPU)."""
        import torch

        from trainers.masked_logprobs import masked_token_logprobs

        masked = self.logprob_mode == "masked"
        allowed_all = fit_length(self._allowed, logits_to_keep) if masked else None
        size = batch_size or input_ids.size(0)
        logps, entropies, gaps = [], [], []
        refused = tokens = 0
        entropy_grad = self._entropy_bonus_enabled and torch.is_grad_enabled()
        for start in range(0, input_ids.size(0), size):
            end = min(start + size, input_ids.size(0))
            ids, am = input_ids[start:end], attention_mask[start:end]
            completion = ids[:, -logits_to_keep:]
            valid = am[:, -logits_to_keep:].bool()
            with self.accelerator.autocast():
                out = model(input_ids=ids, attention_mask=am, logits_to_keep=logits_to_keep + 1)
            logits = out.logits[:, :-1, :].float() / self.temperature
            allowed = None
            if masked:
                allowed = allowed_all[start:end].to(logits.device)
                allowed, bad = repair_masks(allowed, completion, valid)
                refused += bad
                tokens += int(valid.sum())
                lp = masked_token_logprobs(logits, completion, allowed)
                with torch.no_grad():
                    full = logits.log_softmax(-1).gather(-1, completion.unsqueeze(-1))
                    gaps.append(((lp - full.squeeze(-1)) * valid).sum(-1))
            else:
                lp = logits.log_softmax(-1).gather(-1, completion.unsqueeze(-1)).squeeze(-1)
            logps.append(lp.masked_fill(~valid, 0.0))
            if compute_entropy:
                with torch.set_grad_enabled(entropy_grad):
                    entropies.append(masked_entropy(logits, allowed).masked_fill(~valid, 0.0))
        logps_all = torch.cat(logps)
        if torch.is_grad_enabled():  # the policy forward, once per micro-batch
            self._log_sampler_diff(logps_all.detach(), attention_mask[:, -logits_to_keep:])
            if masked:
                metrics = self._metrics[self._mode()]
                metrics["logprobs/masked_minus_unmasked"].append(torch.cat(gaps).mean().item())
                metrics["logprobs/replay_refused"].append(refused / max(tokens, 1))
        return logps_all, (torch.cat(entropies) if compute_entropy else None), None

    def _log_sampler_diff(self, logps: torch.Tensor, valid: torch.Tensor) -> None:
        """Mean |trainer - sampler| masked log-prob per token: ~0 while the batch is on
        policy (first pass over a generation batch); a replay that diverged from the
        sampler's grammar state shows up here."""
        import torch

        sampled = self._sampling_logps
        if sampled is None or sampled.shape != logps.shape:
            return
        mask = valid.bool() & torch.isfinite(sampled)
        diff = (logps - sampled.to(logps.device)).abs()[mask]
        if diff.numel():
            self._metrics[self._mode()]["logprobs/sampler_abs_diff"].append(diff.mean().item())
