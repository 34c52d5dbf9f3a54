"""The transformers backend: batched, left-padded sampling under Outlines grammars, with
the masked and the unmasked log-prob of every sampled token.

How the log-probs are measured. ``SamplingProcessor`` is vtk's only logits processor:
it applies the grammar mask, the temperature and top-k/top-p itself (transformers' own
warpers and processors such as a repetition penalty are turned off), so its output is
exactly the distribution ``generate`` samples from. Per step and row it keeps the
log-sum-exp over that distribution's support and over the whole (temperature-scaled)
vocabulary, the support itself as a packed bitmask, and one step later the sampled
token's score: ``masked = score - lse(support)`` is the log-prob of the distribution the
token was drawn from, ``unmasked = score - lse(all)``. Nothing of size ``[steps, rows,
vocab]`` is kept in floats; the bitmasks (``[steps, rows, vocab / 32]`` int32) travel
with the completion so a trainer can score the same distribution without replaying the
grammar.

The ``n`` samples of a prompt share one prefill (``shared_prefill``): the prompt is
encoded once and its key/value cache repeated ``n`` times.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grammars.base import Constraint
from toolkit.backends.base import (
    BACKENDS,
    Completion,
    Generator,
    SamplingParams,
    check_request,
)
from toolkit.errors import ConfigError

if TYPE_CHECKING:
    import torch

NEUTRAL_PROCESSING = {
    "repetition_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "encoder_repetition_penalty": 1.0,
    "typical_p": 1.0,
    "epsilon_cutoff": 0.0,
    "eta_cutoff": 0.0,
}
"""Overrides a model's generation config may set: vtk's processor must see raw logits."""


def truncate(scores: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """Top-k then nucleus (top-p) truncation of ``[rows, V]`` scores (``-inf`` outside);
    the most likely token always survives.

    >>> import torch
    >>> truncate(torch.tensor([[0.0, 1.0, 2.0]]), top_k=2, top_p=1.0)
    tensor([[-inf, 1., 2.]])
    """
    import torch

    if top_k and 0 < top_k < scores.size(-1):
        kth = scores.topk(top_k, dim=-1).values[:, -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if top_p < 1.0:
        ordered, index = scores.sort(dim=-1, descending=True)
        probs = ordered.softmax(-1)
        # drop a token once the mass before it already reaches top_p
        before = probs.cumsum(-1) - probs
        drop = before >= top_p
        drop[:, 0] = False
        scores = scores.masked_fill(torch.zeros_like(drop).scatter(1, index, drop), float("-inf"))
    return scores


class SamplingProcessor:
    """vtk's only logits processor: grammar mask, temperature, top-k, top-p, in that order,
    so the scores it returns are the log-weights of the distribution ``generate`` samples
    from (transformers' own warpers are turned off). Per step and row it records the packed
    support of that distribution (``toolkit.backends.bitmask``), its log-sum-exp, the
    log-sum-exp of the temperature-scaled scores over the whole vocabulary, and one step
    later the sampled token's scaled score: ``masked = score - lse(support)`` is the
    sampled token's log-prob under the sampling distribution, ``unmasked = score -
    lse(all)`` its log-prob without the grammar and truncation."""

    def __init__(
        self, mask: Any = None, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0
    ):
        self.mask = mask
        self.temperature = temperature
        self.top_k = top_k
        self.top_p = top_p
        self.lse_all: list[torch.Tensor] = []
        self.lse_allowed: list[torch.Tensor] = []
        self.chosen: list[torch.Tensor] = []
        self.bits: list[torch.Tensor] = []
        self._last: torch.Tensor | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        import torch

        from toolkit.backends.bitmask import pack

        if self._last is not None:
            self.chosen.append(self._last.gather(1, input_ids[:, -1:]).squeeze(1))
        scores = scores.float()
        masked = self.mask(input_ids, scores.clone()) if self.mask else scores
        if self.temperature != 1.0:
            scores = scores / self.temperature
            masked = masked / self.temperature
        final = truncate(masked, self.top_k, self.top_p)
        self.lse_all.append(scores.logsumexp(-1))
        self.lse_allowed.append(final.logsumexp(-1))
        self.bits.append(pack(torch.isfinite(final)))
        self._last = final
        return final

    def finish(self, new_tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(masked, unmasked)`` log-probs ``[rows, steps]`` given the generated tokens,
        and the packed supports ``[rows, steps, words]``."""
        import torch

        steps = min(len(self.lse_all), new_tokens.size(1))
        if self._last is not None and len(self.chosen) < steps:
            self.chosen.append(self._last.gather(1, new_tokens[:, steps - 1 : steps]).squeeze(1))
        chosen = torch.stack(self.chosen[:steps], 1)
        masked = chosen - torch.stack(self.lse_allowed[:steps], 1)
        unmasked = chosen - torch.stack(self.lse_all[:steps], 1)
        return masked, unmasked, torch.stack(self.bits[:steps], 1)


def encode_prompt(tokenizer: Any, prompt: str, *, chat: bool = True) -> list[int]:
    """A user message's token ids, wrapped in the tokenizer's chat template when ``chat``
    (what the backend feeds the model; trainers that score prompts without sampling use it
    too)."""
    if chat:
        messages = [{"role": "user", "content": prompt}]
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return list(tokenizer(text, add_special_tokens=False).input_ids)
    return list(tokenizer(prompt).input_ids)


class RowBudgets:
    """Stopping criterion: row ``i`` is done after ``budgets[i]`` new tokens."""

    def __init__(self, budgets: Sequence[int], prompt_width: int):
        self.budgets = list(budgets)
        self.prompt_width = prompt_width

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        import torch

        budgets = torch.tensor(self.budgets, device=input_ids.device)
        return (input_ids.size(1) - self.prompt_width) >= budgets


@contextlib.contextmanager
def seeded(seed: int | None, device: Any = None) -> Iterator[None]:
    """Seed torch's sampler for the block only (the global RNG state is restored)."""
    import torch

    if seed is None:
        yield
        return
    cuda = getattr(device, "type", None) == "cuda"
    devices = [device.index or 0] if cuda else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@BACKENDS.register("transformers")
class TransformersGenerator(Generator):
    """``model.generate`` with Outlines grammar masks, on CPU or one GPU.

    ``chat``: prompts are user messages wrapped in the tokenizer's chat template (else
    plain text). ``batch_size`` counts rows (prompts x ``n``) per ``generate`` call: a
    call holds ``max(1, batch_size // n)`` prompts. ``generate_kwargs`` go to
    ``model.generate`` as they are (e.g. ``min_new_tokens`` for benchmarks).
    ``shared_prefill``: encode each prompt once and share its cache among its ``n``
    samples (``False``: every sample re-encodes the prompt, the old path).

    Completions end with the end-of-sequence token when ``finish_reason == "stop"`` (its
    log-prob is part of the sample's probability); ``text`` leaves it out. A row's budget
    is ``params.budget(constraint)``: the grammar's ``max_tokens`` unless the request
    asks for fewer.
    """

    name = "transformers"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        chat: bool = True,
        batch_size: int = 8,
        generate_kwargs: dict[str, Any] | None = None,
        shared_prefill: bool = True,
    ):
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        if chat and not getattr(tokenizer, "chat_template", None):
            raise ConfigError(
                f"tokenizer {getattr(tokenizer, 'name_or_path', '')!r} has no chat template; "
                "pass chat=False to send prompts as plain text"
            )
        self.model = model
        self.tokenizer = tokenizer
        self.chat = chat
        self.batch_size = batch_size
        self.generate_kwargs = dict(generate_kwargs or {})
        self.shared_prefill = shared_prefill
        self.eos_ids = self._eos_ids()
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else self.eos_ids[0]

    @classmethod
    def from_pretrained(
        cls,
        model: str | Path = "embedded",
        *,
        dtype: str = "float32",
        device: str | None = None,
        **kwargs: Any,
    ) -> TransformersGenerator:
        """Load ``model`` (a folder, a LoRA adapter folder, or ``"embedded"``) and wrap it."""
        from toolkit.models import load_model

        lm, tokenizer = load_model(model, dtype=dtype, device=device)
        return cls(lm, tokenizer, **kwargs)

    def _eos_ids(self) -> list[int]:
        """The tokenizer's end token (what grammars end with) and the model's stop ids."""
        ids = [self.tokenizer.eos_token_id]
        config_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        if isinstance(config_eos, int):
            ids.append(config_eos)
        elif config_eos:
            ids.extend(config_eos)
        return list(dict.fromkeys(i for i in ids if i is not None))

    def encode(self, prompt: str) -> list[int]:
        """The prompt's token ids, chat template applied when ``chat``."""
        return encode_prompt(self.tokenizer, prompt, chat=self.chat)

    def generate(
        self,
        prompts: Sequence[str],
        constraints: Sequence[Constraint | None] | Constraint | None = None,
        *,
        n: int = 1,
        params: SamplingParams | None = None,
    ) -> list[list[Completion]]:
        rows, params = check_request(prompts, constraints, n, params)
        if params.max_new_tokens is not None and params.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {params.max_new_tokens}")
        encoded = [self.encode(p) for p in prompts]
        per_call = max(1, self.batch_size // n)
        out: list[list[Completion]] = []
        with seeded(params.seed, self.model.device):
            for start in range(0, len(prompts), per_call):
                end = start + per_call
                out += self.generate_ids(encoded[start:end], rows[start:end], n=n, params=params)
        return out

    def generate_ids(
        self,
        prompt_ids: Sequence[Sequence[int]],
        constraints: Sequence[Constraint | None],
        *,
        n: int,
        params: SamplingParams,
    ) -> list[list[Completion]]:
        """One ``model.generate`` call over already-encoded prompts (left-padded here)."""
        import torch
        from transformers import LogitsProcessorList, StoppingCriteriaList

        from toolkit.backends.constraints import GrammarMask

        width = max(len(ids) for ids in prompt_ids)
        device = self.model.device
        input_ids = torch.tensor(
            [[self.pad_id] * (width - len(ids)) + list(ids) for ids in prompt_ids], device=device
        )
        attention = torch.tensor(
            [[0] * (width - len(ids)) + [1] * len(ids) for ids in prompt_ids], device=device
        )
        cache = self.prefill(input_ids, attention, n) if self.shared_prefill and n > 1 else None
        # each prompt repeated n times (what num_return_sequences does, but greedy too)
        input_ids = input_ids.repeat_interleave(n, dim=0)
        attention = attention.repeat_interleave(n, dim=0)
        row_constraints = [c for c in constraints for _ in range(n)]
        budgets = [params.budget(c) for c in row_constraints]
        processor = SamplingProcessor(
            GrammarMask(row_constraints, self.tokenizer),
            **({} if params.greedy else params.distribution()),
        )
        kwargs = {
            **NEUTRAL_PROCESSING,
            # vtk's processor does temperature and truncation: generate samples its scores as-is
            "do_sample": not params.greedy,
            "temperature": 1.0,
            "top_k": 0,
            "top_p": 1.0,
            "max_new_tokens": max(budgets),
            "pad_token_id": self.pad_id,
            "eos_token_id": self.eos_ids,
            "return_dict_in_generate": True,
            **self.generate_kwargs,
        }
        if cache is not None:
            kwargs["cache"] = cache
        output = self.model.generate(
            input_ids=input_ids,
            attention_mask=attention,
            logits_processor=LogitsProcessorList([processor]),
            stopping_criteria=StoppingCriteriaList([RowBudgets(budgets, width)]),
            **kwargs,
        )
        new_tokens = output.sequences[:, width:]
        masked, unmasked, bits = processor.finish(new_tokens)
        completions = [
            self._completion(
                new_tokens[row].tolist(),
                masked[row].tolist(),
                unmasked[row].tolist(),
                bits[row],
                budgets[row],
                list(prompt_ids[row // n]),
            )
            for row in range(new_tokens.size(0))
        ]
        return [completions[i * n : (i + 1) * n] for i in range(len(prompt_ids))]

    def prefill(self, input_ids: torch.Tensor, attention: torch.Tensor, n: int) -> Any:
        """Encode each distinct prompt once (all but its last token, which ``generate``
        feeds to produce the first logits) and repeat its key/value cache ``n`` times, so
        the n samples of a prompt share one prefill. Position ids follow the attention
        mask exactly as ``generate`` computes them, so the cache is the one it would build."""
        if input_ids.size(1) < 2:
            return None
        ids, mask = input_ids[:, :-1], attention[:, :-1]
        positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 1)
        out = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
        )
        cache = out.past_key_values
        cache.batch_repeat_interleave(n)
        return cache

    def _completion(
        self,
        tokens: list[int],
        masked: list[float],
        unmasked: list[float],
        bits: torch.Tensor,
        budget: int,
        prompt_ids: list[int],
    ) -> Completion:
        """Cut a row at its first end token (kept) or at its budget."""
        end = next((i for i, t in enumerate(tokens[:budget]) if t in self.eos_ids), None)
        if end is None:
            keep, reason, body = min(budget, len(tokens)), "length", None
        else:
            keep, reason, body = end + 1, "stop", end
        ids = tokens[:keep]
        text = self.tokenizer.decode(ids[:body], skip_special_tokens=True)
        return Completion(
            text=text,
            token_ids=ids,
            logprobs=masked[:keep],
            unmasked_logprobs=unmasked[:keep],
            finish_reason=reason,  # type: ignore[arg-type]
            prompt_ids=prompt_ids,
            support=bits[:keep].clone(),
        )
