"""The generator protocol every backend implements (transformers, vllm, openai).

Prompts (already chat-formatted text), an optional ``Constraint`` per prompt, ``n``
samples and sampling parameters in; for every prompt ``n`` completions out, each with its
token ids, per-token log-probs under the grammar mask (log-softmax over the allowed tokens
only, at the request's temperature and truncation: the distribution the sample was drawn
from) and unmasked (full-vocabulary log-softmax at the same temperature), and the finish
reason.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from grammars.base import Constraint
from toolkit.registry import Registry

FinishReason = Literal["stop", "length"]


DEFAULT_MAX_NEW_TOKENS = 256
"""The budget of an unconstrained prompt when the request names none."""


@dataclass(frozen=True)
class SamplingParams:
    max_new_tokens: int | None = None
    """None: each prompt's constraint's ``max_tokens`` (the budget inside which its grammar
    always closes), or ``DEFAULT_MAX_NEW_TOKENS`` without a constraint."""
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0

    def distribution(self) -> dict[str, float | int]:
        """The settings that shape the sampling distribution (after the grammar)."""
        return {"temperature": self.temperature, "top_k": self.top_k, "top_p": self.top_p}

    def budget(self, constraint: Constraint | None) -> int:
        """New tokens one prompt may take: the request's budget capped by the grammar's.

        >>> SamplingParams().budget(Constraint("choice", '["A"]', max_tokens=2))
        2
        >>> SamplingParams(max_new_tokens=9).budget(None)
        9
        """
        limit = constraint.max_tokens if constraint is not None else None
        if self.max_new_tokens is None:
            return limit if limit is not None else DEFAULT_MAX_NEW_TOKENS
        return self.max_new_tokens if limit is None else min(self.max_new_tokens, limit)


@dataclass
class Completion:
    text: str
    token_ids: list[int]
    logprobs: list[float]
    """Per-token log-probs under the grammar mask (equal to ``unmasked`` without a grammar)."""
    unmasked_logprobs: list[float]
    finish_reason: FinishReason
    prompt_ids: list[int] = field(default_factory=list)
    support: Any = None
    """Per token, the packed support of the distribution it was drawn from
    (``[len(token_ids), ceil(V / 32)]`` int32, ``toolkit.backends.bitmask``), where the
    backend reports it; a trainer scores that distribution without replaying the grammar."""

    @property
    def sum_logprob(self) -> float:
        return float(sum(self.logprobs))


def as_row_constraints(
    constraints: Sequence[Constraint | None] | Constraint | None, n_prompts: int
) -> list[Constraint | None]:
    """One constraint (or None) per prompt from the protocol's three accepted forms.

    >>> as_row_constraints(None, 2)
    [None, None]
    """
    if constraints is None or isinstance(constraints, Constraint):
        return [constraints] * n_prompts
    rows = list(constraints)
    if len(rows) != n_prompts:
        raise ValueError(
            f"got {len(rows)} constraints for {n_prompts} prompts; give one per prompt"
        )
    return rows


def check_request(
    prompts: Sequence[str],
    constraints: Sequence[Constraint | None] | Constraint | None,
    n: int,
    params: SamplingParams | None,
) -> tuple[list[Constraint | None], SamplingParams]:
    """What every backend's ``generate`` does first: refuse ``n < 1``, default the
    sampling parameters, and give one constraint (or None) per prompt."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    return as_row_constraints(constraints, len(prompts)), params or SamplingParams()


class Generator(ABC):
    """A text generator; ``generate`` returns ``n`` completions per prompt, in prompt order."""

    name: ClassVar[str]

    @abstractmethod
    def generate(
        self,
        prompts: Sequence[str],
        constraints: Sequence[Constraint | None] | Constraint | None = None,
        *,
        n: int = 1,
        params: SamplingParams | None = None,
    ) -> list[list[Completion]]:
        """``constraints`` is one per prompt, or one shared by all, or None."""


BACKENDS: Registry[type[Generator]] = Registry("backend", group="vtk.backends")
