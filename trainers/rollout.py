"""Grammar-constrained rollouts for TRL's ``rollout_func`` hook.

TRL's own generation path cannot take a logits processor, so the trainer calls
``ConstrainedRollout(prompts, trainer)`` instead. TRL hands over the prompts already
repeated G times; the rollout groups equal prompts, asks a vtk ``Generator`` (the
transformers backend by default) for G samples each under the prompt's constraint, from
the *current* policy (unwrapped, eval mode, no gradient), and returns one completion per
entry in TRL's order. Besides TRL's required keys it returns, under ``SUPPORT_KEY``, the
packed support of the distribution each token was drawn from (the trainer scores the same
distribution), under ``CONSTRAINT_KEY`` the constraint of every row and, under ``GAP_KEY``,
the sampler's masked-minus-unmasked log-prob of every sequence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from toolkit.errors import InputError

if TYPE_CHECKING:
    from grammars.base import Constraint
    from toolkit.backends.base import Generator

CONSTRAINT_KEY = "vtk_constraint"
GAP_KEY = "vtk_logprob_gap"
SUPPORT_KEY = "vtk_support_bits"

GeneratorFactory = Callable[[Any, Any], "Generator"]
"""``(model, tokenizer) -> Generator``: how the rollout samples from a policy."""


def transformers_generator(batch_size: int = 8, shared_prefill: bool = True) -> GeneratorFactory:
    """The default sampler: vtk's transformers backend with the chat template applied."""

    def factory(model: Any, tokenizer: Any) -> Generator:
        from toolkit.backends.transformers_backend import TransformersGenerator

        return TransformersGenerator(
            model, tokenizer, chat=True, batch_size=batch_size, shared_prefill=shared_prefill
        )

    return factory


@dataclass
class PromptTable:
    """Prompt text -> its constraint. TRL passes only the prompts to the rollout, so the
    constraint is looked up by text; two rows with one prompt must share one constraint."""

    constraints: dict[str, Constraint | None] = field(default_factory=dict)

    def add(self, prompt: str, constraint: Constraint | None, where: str = "") -> None:
        known = self.constraints.get(prompt, constraint)
        if prompt in self.constraints and known != constraint:
            raise InputError.at(
                "two examples have the same prompt but different constraints; the rollout "
                "could not tell which grammar to apply",
                where or None,
                field="prompt",
            )
        self.constraints[prompt] = constraint

    def __call__(self, prompt: str) -> Constraint | None:
        try:
            return self.constraints[prompt]
        except KeyError:
            raise KeyError(f"no constraint registered for prompt {prompt[:60]!r}...") from None

    def __len__(self) -> int:
        return len(self.constraints)


def group_prompts(prompts: Sequence[str]) -> tuple[list[str], list[int], int]:
    """Distinct prompts in first-seen order, each entry's group index, and the largest
    group size (the number of samples to ask for per prompt).

    >>> group_prompts(["a", "a", "b", "b"])
    (['a', 'b'], [0, 0, 1, 1], 2)
    """
    index: dict[str, int] = {}
    groups = []
    for p in prompts:
        groups.append(index.setdefault(p, len(index)))
    counts = [groups.count(g) for g in range(len(index))]
    return list(index), groups, max(counts, default=0)


def _prompt_text(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    raise TypeError(
        "vtk rollouts take plain-text prompts (the user message); the chat template is "
        f"applied by the backend, got {type(prompt).__name__}"
    )


def _no_checkpointing(model: Any, args: Any) -> Any:
    """Activation checkpointing off while sampling (it only costs time without a backward)."""
    import contextlib

    if not getattr(args, "gradient_checkpointing", False):
        return contextlib.nullcontext()
    from trl.models.utils import disable_gradient_checkpointing

    return disable_gradient_checkpointing(model, args.gradient_checkpointing_kwargs)


class ConstrainedRollout:
    """TRL ``rollout_func``: on-policy, grammar-constrained samples from the vtk backend."""

    def __init__(
        self,
        constraint_for: Callable[[str], Constraint | None],
        generator_factory: GeneratorFactory | None = None,
        *,
        logprobs: str = "masked",
    ):
        self.constraint_for = constraint_for
        self.generator_factory = generator_factory or transformers_generator()
        self.logprobs = logprobs
        self._generator: Generator | None = None
        self._generator_for: int | None = None

    def generator(self, model: Any, tokenizer: Any) -> Generator:
        if self._generator is None or self._generator_for != id(model):
            self._generator = self.generator_factory(model, tokenizer)
            self._generator_for = id(model)
        return self._generator

    def sampling_params(self, trainer: Any) -> Any:
        from toolkit.backends.base import SamplingParams

        args = trainer.args
        return SamplingParams(
            max_new_tokens=args.max_completion_length,
            temperature=args.temperature,
            top_p=args.top_p,
            top_k=args.top_k or 0,
            # a fresh stream per optimizer step, reproducible from the seed (and on resume)
            seed=args.seed * 1_000_003 + trainer.state.global_step,
        )

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, list[Any]]:
        import torch

        texts = [_prompt_text(p) for p in prompts]
        distinct, groups, n = group_prompts(texts)
        constraints = [self.constraint_for(p) for p in distinct]
        model = trainer.accelerator.unwrap_model(trainer.model)
        tokenizer = trainer.processing_class
        generator = self.generator(model, tokenizer)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad(), _no_checkpointing(model, trainer.args):
                samples = generator.generate(
                    distinct, constraints, n=n, params=self.sampling_params(trainer)
                )
        finally:
            model.train(was_training)
        return self.rows(samples, groups, constraints, eos_id=tokenizer.eos_token_id)

    def rows(
        self,
        samples: list[list[Any]],
        groups: list[int],
        constraints: list[Constraint | None],
        *,
        eos_id: int,
    ) -> dict[str, list[Any]]:
        """One completion per entry, in TRL's order (the k-th entry of a group gets the
        k-th sample of its prompt)."""
        taken = [0] * len(samples)
        out: dict[str, list[Any]] = {
            "prompt_ids": [],
            "completion_ids": [],
            "logprobs": [],
            CONSTRAINT_KEY: [],
            GAP_KEY: [],
            SUPPORT_KEY: [],
        }
        for g in groups:
            c = samples[g][taken[g]]
            taken[g] += 1
            ids = list(c.token_ids)
            masked = list(c.logprobs)
            unmasked = list(c.unmasked_logprobs)
            support = c.support
            if not ids:  # an empty completion still needs one token for TRL's tensors
                ids, masked, unmasked, support = [eos_id], [0.0], [0.0], None
            elif support is None and constraints[g] is not None and self.logprobs == "masked":
                raise RuntimeError(
                    "the rollout backend returned no sampled supports, which masked "
                    "log-probs need (use the transformers backend, or logprobs: unmasked)"
                )
            out["prompt_ids"].append(list(c.prompt_ids))
            out["completion_ids"].append(ids)
            out["logprobs"].append(masked if self.logprobs == "masked" else unmasked)
            out[CONSTRAINT_KEY].append(constraints[g])
            out[GAP_KEY].append(float(sum(masked) - sum(unmasked)))
            out[SUPPORT_KEY].append(support)
        return out
