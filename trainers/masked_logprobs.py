"""Log-probs under the sampler's distribution, for training, without full-vocabulary copies.

The sampler drew every token from the grammar-masked (and possibly truncated),
temperature-scaled distribution; a full-vocabulary log-softmax (TRL's) under-counts each
token by the log of the mass that distribution excludes (26-33 nats per sequence on
SmolLM2 with a JSON grammar), which biases the policy gradient, the clipped ratio and the
KL alike. The sampler returns, per token, the packed support of the distribution it drew
from (``toolkit.backends.bitmask``), and ``token_logprobs`` scores the policy, the old
policy and the reference under exactly that support:

- from final hidden states, the LM head runs on a chunk of positions at a time, so no
  ``[B, T, V]`` float tensor of the whole batch is ever alive; on the gradient pass each
  chunk is checkpointed (its logits are recomputed in the backward pass, not stored);
- per chunk: the logits are divided by the temperature, the support words are unpacked,
  the log-softmax over the support is gathered at the completion ids; the entropy of the
  same distribution and the masked-minus-unmasked gap come from the same chunk.

``allowed_masks`` (replaying each row's grammar on its ids with a fresh Outlines
processor) is kept as the test-only reference the sampler's masks are checked against,
and ``masked_token_logprobs`` as the plain, unchunked formula.
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


def _chunk_logprobs(
    hidden: torch.Tensor,
    head: Any,
    ids: torch.Tensor,
    support: torch.Tensor | None,
    valid: torch.Tensor,
    temperature: float,
    want_entropy: bool,
    entropy_grad: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One chunk: log-probs, entropies, masked-minus-unmasked gaps and refused counts."""
    import torch

    from toolkit.backends.bitmask import unpack

    logits = head(hidden).float()
    if temperature != 1.0:
        logits = logits / temperature
    chosen = logits.gather(-1, ids.unsqueeze(-1)).squeeze(-1)
    lse_all = logits.logsumexp(-1)
    refused = torch.zeros((), dtype=torch.long)
    if support is None:
        lse, allowed = lse_all, None
    else:
        allowed = unpack(support, logits.size(-1)) | ~valid.unsqueeze(-1)
        hit = allowed.gather(-1, ids.unsqueeze(-1)).squeeze(-1)
        refused = (~hit & valid).sum()
        if bool(refused):  # a token outside its support: score it rather than give -inf
            allowed = allowed.scatter(-1, ids.unsqueeze(-1), True)
        lse = logits.masked_fill(~allowed, float("-inf")).logsumexp(-1)
    lp = chosen - lse
    if want_entropy:
        with torch.set_grad_enabled(entropy_grad and torch.is_grad_enabled()):
            logp = logits - lse.unsqueeze(-1)
            p = logp.exp() if allowed is None else logp.exp().masked_fill(~allowed, 0.0)
            entropy = -(p * logp.masked_fill(p == 0, 0.0)).sum(-1)
    else:
        entropy = torch.zeros_like(lp)
    return lp, entropy, (lse_all - lse).detach(), refused


def token_logprobs(
    hidden: torch.Tensor,
    head: Any,
    completion_ids: torch.Tensor,
    valid: torch.Tensor,
    *,
    support: torch.Tensor | None = None,
    temperature: float = 1.0,
    chunk_tokens: int = 2048,
    entropy: bool = False,
    entropy_grad: bool = False,
) -> dict[str, torch.Tensor]:
    """Per-token log-probs ``[B, T]`` of ``completion_ids`` under ``softmax(head(hidden) /
    temperature)`` restricted to ``support`` (packed ``[B, T, W]`` words; None: the whole
    vocabulary), computed ``chunk_tokens`` (rows x positions) at a time.

    Returns ``logps`` (0 at padding), ``entropy`` (when asked; of the same distribution),
    ``gap`` (``[B]``: per sequence, log-prob under the support minus under the whole
    vocabulary, >= 0) and ``refused`` (tokens outside their support, normally 0).
    With gradients on, each chunk is checkpointed: its logits are recomputed in the
    backward pass instead of kept.
    """
    import torch
    from torch.utils.checkpoint import checkpoint

    b, t = completion_ids.shape
    step = max(1, chunk_tokens // max(b, 1))
    grad = torch.is_grad_enabled() and hidden.requires_grad
    parts: list[tuple[torch.Tensor, ...]] = []
    for start in range(0, t, step):
        sl = slice(start, min(start + step, t))
        args = (
            hidden[:, sl],
            head,
            completion_ids[:, sl],
            None if support is None else support[:, sl],
            valid[:, sl],
            temperature,
            entropy,
            entropy_grad,
        )
        if grad:
            parts.append(checkpoint(_chunk_logprobs, *args, use_reentrant=False))
        else:
            parts.append(_chunk_logprobs(*args))
    logps = torch.cat([p[0] for p in parts], 1).masked_fill(~valid, 0.0)
    out = {
        "logps": logps,
        "gap": (torch.cat([p[2] for p in parts], 1) * valid).sum(-1),
        "refused": sum(p[3] for p in parts),
    }
    if entropy:
        ent = torch.cat([p[1] for p in parts], 1).masked_fill(~valid, 0.0)
        out["entropy"] = ent
    return out
