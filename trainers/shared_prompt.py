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
    prompt_mask = attention_mask[:, :p]
    ids, mask, inverse = group_rows(input_ids[:, :p], prompt_mask)
    out = decoder(
        input_ids=ids, attention_mask=mask, position_ids=position_ids(mask), use_cache=True
    )
    first = out.last_hidden_state[:, -1][inverse].unsqueeze(1)  # predicts completion token 0
    if r == 1:
        return first
    cache = out.past_key_values
    cache.batch_select_indices(inverse)
    full_mask = attention_mask[:, :-1]
    rest = decoder(
        input_ids=input_ids[:, p:-1],
        attention_mask=full_mask,
        position_ids=position_ids(full_mask)[:, p:],
        cache=cache,
        use_cache=True,
    )
    return torch.cat([first, rest.last_hidden_state], dim=1)
