"""Shared-prompt forward: each distinct prompt is encoded once, its completions attend to it.

A GRPO batch holds G completions of each prompt, and TRL runs the model on every
``prompt + completion`` row, so the prompt is encoded G times (for Stage 1 prompts of
250-450 tokens and completions of 20-160, most of the work). Here the rows of a batch are
grouped by their (left-padded) prompt; the distinct prompts run once and return their
key/value cache, the cache is gathered to one entry per row (an indexing op, so gradients
from every completion flow back into the one prompt pass), and the completions run on top
of it. The result is the final hidden state at every position that predicts a completion
token, the same numbers as the plain path (``shared=False``) up to float rounding: the
prompt's states do not depend on what follows it (causal attention), and position ids
follow the attention mask in both paths (``position_ids``), as generation numbers them.

Cost: ``U * P + B * R`` tokens instead of ``B * (P + R)`` (U distinct prompts of width P, B
rows of completion width R). This is the Prefix Grouper / TRL PR #2669 idea done with the
model's own cache on SDPA; no attention kernel of our own.

Activation checkpointing re-runs each layer in the backward pass, and a layer that wrote
to a cache would write twice, so transformers drops the cache under checkpointing. The two
cache layers here are idempotent instead: ``RecordLayer`` (prompt pass) keeps the last K/V
it was given, ``PrefixLayer`` (completion pass) returns ``prefix + new`` without storing
anything, so a replay reads and writes the same states and the decoder layers may keep
their cache (``_can_checkpoint_with_cache``). The recorded K/V escape the checkpointed
layer, so only non-reentrant checkpointing (which tracks every tensor, not just outputs)
carries their gradient; reentrant checkpointing is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions counted over real tokens only (padding gets 1), as ``generate`` sets them.

    >>> import torch
    >>> position_ids(torch.tensor([[0, 0, 1, 1, 1]])).tolist()
    [[1, 1, 0, 1, 2]]
    """
    return (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 1)


def decoder_and_head(model: Any) -> tuple[Any, Any]:
    """The decoder stack (final norm included) and the LM head of a causal LM, looking
    through PEFT and accelerate wrappers (LoRA layers live inside the decoder's modules)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    base = getattr(base, "module", base)
    return base.get_decoder(), base.get_output_embeddings()


def _layers() -> tuple[type, type]:
    from transformers.cache_utils import DynamicLayer

    class RecordLayer(DynamicLayer):
        """Keeps the K/V of its last call (a checkpoint replay overwrites, never appends)."""

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> Any:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            self.keys, self.values = key_states, value_states
            return key_states, value_states

    class PrefixLayer(DynamicLayer):
        """A fixed prefix: returns ``prefix + new`` K/V and stores nothing."""

        def __init__(self, keys: Any, values: Any):
            super().__init__()
            self.lazy_initialization(keys, values)
            self.keys, self.values = keys, values

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> Any:
            import torch

            return (
                torch.cat([self.keys, key_states], dim=-2),
                torch.cat([self.values, value_states], dim=-2),
            )

    return RecordLayer, PrefixLayer


def _cache(decoder: Any, layers: list[Any]) -> Any:
    from transformers.cache_utils import DynamicCache, DynamicLayer

    cache = DynamicCache(config=decoder.config)
    if any(type(layer) is not DynamicLayer for layer in cache.layers):
        raise NotImplementedError(
            "the shared-prompt forward supports full-attention caches only; set "
            "grpo.shared_prompt=false for this model"
        )
    cache.layers = layers
    return cache


class _KeepCacheUnderCheckpointing:
    """Let the decoder layers keep the (idempotent) cache while checkpointing; refuse
    reentrant checkpointing, which would cut the prompt's gradient."""

    def __init__(self, decoder: Any):
        self.layers = list(getattr(decoder, "layers", []))

    def __enter__(self) -> None:
        for layer in self.layers:
            if getattr(layer, "gradient_checkpointing", False):
                func = getattr(layer, "_gradient_checkpointing_func", None)
                keywords = getattr(func, "keywords", {}) or {}
                if keywords.get("use_reentrant", True):
                    raise ValueError(
                        "the shared-prompt forward needs non-reentrant activation "
                        "checkpointing (gradient_checkpointing_kwargs={'use_reentrant': False})"
                    )
            layer._can_checkpoint_with_cache = True

    def __exit__(self, *exc: Any) -> None:
        for layer in self.layers:
            layer.__dict__.pop("_can_checkpoint_with_cache", None)


def group_rows(prompt_ids: torch.Tensor, prompt_mask: torch.Tensor) -> tuple[Any, Any, Any]:
    """Distinct prompts (ids, mask) and, per row, the index of its prompt."""
    import torch

    width = prompt_ids.size(1)
    key = torch.cat([prompt_ids, prompt_mask.to(prompt_ids.dtype)], dim=1)
    unique, inverse = torch.unique(key, dim=0, return_inverse=True)
    return unique[:, :width], unique[:, width:].to(prompt_mask.dtype), inverse


def completion_hidden(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    completion_width: int,
    *,
    shared: bool = True,
) -> torch.Tensor:
    """``[B, R, H]``: the final hidden state that predicts each of the last
    ``completion_width`` (R) tokens of ``input_ids`` (``prompt + completion`` rows, prompts
    left-padded, completions right-padded, as TRL builds them)."""
    import torch

    decoder, _ = decoder_and_head(model)
    r = completion_width
    if not shared:
        out = decoder(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids(attention_mask),
        )
        return out.last_hidden_state[:, -r - 1 : -1]
    p = input_ids.size(1) - r
    record, prefix = _layers()
    prompt_mask = attention_mask[:, :p]
    ids, mask, inverse = group_rows(input_ids[:, :p], prompt_mask)
    n_layers = decoder.config.num_hidden_layers
    recorded = _cache(decoder, [record() for _ in range(n_layers)])
    with _KeepCacheUnderCheckpointing(decoder):
        out = decoder(
            input_ids=ids, attention_mask=mask, position_ids=position_ids(mask), cache=recorded
        )
        first = out.last_hidden_state[:, -1][inverse].unsqueeze(1)  # predicts token 0
        if r == 1:
            return first
        shared = _cache(
            decoder, [prefix(rec.keys[inverse], rec.values[inverse]) for rec in recorded.layers]
        )
        full_mask = attention_mask[:, :-1]
        rest = decoder(
            input_ids=input_ids[:, p:-1],
            attention_mask=full_mask,
            position_ids=position_ids(full_mask)[:, p:],
            cache=shared,
        )
    return torch.cat([first, rest.last_hidden_state], dim=1)
