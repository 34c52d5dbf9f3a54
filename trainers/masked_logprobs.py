"""Log-probs under the grammar mask, for training.

The sampler drew every token from the grammar-masked, renormalised distribution
``softmax(logits[allowed])``; a full-vocabulary log-softmax (TRL's) under-counts each
token by the log of the probability mass the grammar forbids (26–33 nats per sequence on
SmolLM2 with a JSON grammar), which biases the policy gradient, the clipped ratio and the
KL alike. So the policy, the old policy and the reference are all scored by:

1. ``allowed_masks``: replay each row's constraint on its completion ids with a fresh
   Outlines processor (the same compiled index the sampler used) and record, per
   position, which tokens the grammar allowed;
2. ``masked_token_logprobs``: a log-softmax over the allowed tokens only, gathered at the
   completion ids; gradients flow through the logits.

Independent of TRL: tensors in, tensors out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from grammars.base import Constraint


def _rows(completion_ids: Any) -> list[list[int]]:
    if hasattr(completion_ids, "tolist"):
        return [list(map(int, row)) for row in completion_ids.tolist()]
    return [list(map(int, row)) for row in completion_ids]


def replay_row(
    constraint: Constraint, tokenizer: Any, ids: Sequence[int], out: torch.Tensor
) -> int:
    """Fill ``out[t]`` (``[T, V]`` booleans, all True on entry) with the tokens the grammar
    allowed before ``ids[t]``; stop after the end token or at a token the grammar refuses
    (later positions stay all True). Returns the number of positions replayed."""
    import torch

    from toolkit.backends.constraints import get_processor

    processor = get_processor(constraint, tokenizer)
    width = min(out.size(-1), len(tokenizer))
    eos = tokenizer.eos_token_id
    previous = torch.tensor([[eos]])  # not read on the first call: no token consumed yet
    for t, token in enumerate(ids):
        allowed = processor(previous, torch.zeros(1, width))[0] > float("-inf")
        out[t, :width] = allowed
        out[t, width:] = False
        if not bool(out[t, token]) or token == eos:
            return t + 1
        previous = torch.tensor([[token]])
    return len(ids)


def allowed_masks(
    constraints: Sequence[Constraint | None],
    tokenizer: Any,
    completion_ids: Sequence[Sequence[int]] | torch.Tensor,
    vocab_size: int,
) -> torch.Tensor:
    """``[B, T, vocab_size]`` booleans: at ``[b, t]`` the tokens row ``b``'s grammar allowed
    for position ``t`` given ``completion_ids[b][:t]``. Rows without a constraint, positions
    past a row's end (ragged lists, or padding after the end token in a tensor) and
    positions after a refused token allow everything. Columns past the tokenizer's
    vocabulary (the model may have more logits than tokens) are never allowed on a
    constrained row."""
    import torch

    rows = _rows(completion_ids)
    if len(rows) != len(constraints):
        raise ValueError(f"got {len(constraints)} constraints for {len(rows)} completions")
    length = max((len(r) for r in rows), default=0)
    allowed = torch.ones(len(rows), length, vocab_size, dtype=torch.bool)
    for b, (constraint, ids) in enumerate(zip(constraints, rows, strict=True)):
        if constraint is not None:
            replay_row(constraint, tokenizer, ids, allowed[b])
    return allowed


def fit_vocab(allowed: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Masks cut or widened to ``vocab_size`` columns; a widened position allows the new
    columns only if it allowed everything (an unconstrained or finished position)."""
    import torch

    width = allowed.size(-1)
    if width == vocab_size:
        return allowed
    if width > vocab_size:
        return allowed[..., :vocab_size]
    extra = allowed.all(-1, keepdim=True).expand(*allowed.shape[:-1], vocab_size - width)
    return torch.cat([allowed, extra], dim=-1)


def masked_token_logprobs(
    logits: torch.Tensor, completion_ids: torch.Tensor, allowed: torch.Tensor
) -> torch.Tensor:
    """``[B, T]``: ``log_softmax(logits[b, t][allowed[b, t]])`` at ``completion_ids[b, t]``.

    A position that allows everything gives the plain log-softmax; a token outside its
    allowed set gives ``-inf``. Gradients flow through ``logits`` (only to allowed tokens).

    >>> import torch
    >>> logits = torch.tensor([[[0.0, 0.0, 5.0]]])
    >>> allowed = torch.tensor([[[True, True, False]]])
    >>> masked_token_logprobs(logits, torch.tensor([[0]]), allowed).exp()
    tensor([[0.5000]])
    """
    allowed = fit_vocab(allowed.to(logits.device), logits.size(-1))
    masked = logits.masked_fill(~allowed, float("-inf"))
    chosen = logits.gather(-1, completion_ids.unsqueeze(-1)).squeeze(-1)
    hit = allowed.gather(-1, completion_ids.unsqueeze(-1)).squeeze(-1)
    lp = chosen - masked.logsumexp(-1)
    return lp.masked_fill(~hit, float("-inf"))
