"""Per-line credit for plan verbalizers: each line's code gets its own advantage.

GRPO gives every token of a completion the same advantage, so an actions plan's one
reward is spread over its n line decisions: a plan that dropped a noise line and kept a
signal line is credited for both alike, and learning *which* line to drop takes many
samples. The oracle is cheap, so each decision can be priced on its own: for line i,
hold the other lines fixed, swap in every other code the domain allows, score each
variant with the same reward, and credit the chosen code with

    c_i = R(plan) - mean over codes c of R(plan with line i = c)

(the chosen code included in the mean). The baseline does not depend on the code chosen
for line i, only on the others, so it adds no bias for that decision; it removes the
noise of the other n - 1 decisions. ``token_advantages`` adds ``weight * c_i / rms(c)``
(the batch's credits scaled to unit RMS, as GRPO scales its advantages) to the
sequence advantage on the tokens of line i's code and leaves every other token with
the sequence advantage alone. Tokens the grammar forces carry no gradient under masked
log-probs, so in practice the credit acts on the token that chose the code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

Span = tuple[int, int]
Credits = list[tuple[int, int, float]]
"""Per completion: (start char, end char, credit) of each line's code."""


@dataclass
class LineCredit:
    """Counterfactual per-line credits for a batch of plans.

    ``reward(texts, example_ids)`` is the stage's total reward (the one GRPO trains on);
    ``spans(text)`` gives each line's code span or None (then the completion gets no line
    credit); ``codes`` are every code a line may take."""

    reward: Callable[[list[str], list[str]], list[float]]
    spans: Callable[[str], list[Span] | None]
    codes: tuple[str, ...]
    batch_size: int = 512

    def __call__(
        self,
        texts: Sequence[str],
        example_ids: Sequence[str],
        base: Sequence[float] | None = None,
    ) -> list[Credits]:
        """The credits of every line of every plan; ``base``: the plans' own rewards when
        already known (else they are computed)."""
        texts, example_ids = list(texts), list(example_ids)
        own = list(base) if base is not None else self._score(texts, example_ids)
        variants: list[str] = []
        variant_ids: list[str] = []
        lines: list[tuple[int, Span]] = []
        for b, text in enumerate(texts):
            for start, end in self.spans(text) or []:
                lines.append((b, (start, end)))
                for code in self.codes:
                    if code != text[start:end]:
                        variants.append(text[:start] + code + text[end:])
                        variant_ids.append(example_ids[b])
        scores = iter(self._score(variants, variant_ids))
        out: list[Credits] = [[] for _ in texts]
        alternatives = len(self.codes) - 1
        for b, (start, end) in lines:
            others = [next(scores) for _ in range(alternatives)]
            mean = (own[b] + sum(others)) / (alternatives + 1)
            out[b].append((start, end, own[b] - mean))
        return out

    def _score(self, texts: list[str], example_ids: list[str]) -> list[float]:
        out: list[float] = []
        for i in range(0, len(texts), self.batch_size):
            out += self.reward(texts[i : i + self.batch_size], example_ids[i : i + self.batch_size])
        return out


def char_ends(tokenizer: Any, ids: Sequence[int]) -> list[int]:
    """The end offset, in the decoded text, of each token of ``ids`` (prefix decoding, the
    way TRL decodes completions: special tokens skipped)."""
    return [
        len(tokenizer.decode(list(ids[: k + 1]), skip_special_tokens=True)) for k in range(len(ids))
    ]


def token_advantages(
    advantages: torch.Tensor,
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
    credits: Sequence[Credits],
    tokenizer: Any,
    weight: float,
) -> tuple[torch.Tensor, float]:
    """(B, T) advantages: the sequence advantage everywhere, plus ``weight`` times the
    line's credit (scaled to unit RMS over the batch) on the tokens of each line's code.
    Returns the advantages and the RMS the credits were divided by (0: no credit)."""
    out = advantages.detach().reshape(-1, 1).expand(-1, completion_ids.size(1)).clone()
    values = [c for rows in credits for _, _, c in rows]
    rms = (sum(v * v for v in values) / len(values)) ** 0.5 if values else 0.0
    if rms == 0.0 or weight == 0.0:
        return out, 0.0
    for b, rows in enumerate(credits):
        if not rows:
            continue
        n = int(completion_mask[b].sum())
        ends = char_ends(tokenizer, completion_ids[b, :n].tolist())
        starts = [0, *ends[:-1]]
        for start, end, credit in rows:
            for t in range(n):
                if starts[t] < end and ends[t] > start:
                    out[b, t] += weight * credit / rms
    return out, rms
