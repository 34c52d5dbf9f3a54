"""Packed token bitmasks: which tokens a sampling step allowed, 32 tokens per int32.

The layout is the one Outlines, xgrammar and llguidance use: bit ``j`` of word ``i`` is
token ``32 * i + j``. A ``[..., V]`` boolean mask packs into ``[..., ceil(V / 32)]`` int32
words, 32x smaller, so the sampler can hand every step's mask to the trainer instead of the
trainer replaying the grammar.

>>> import torch
>>> allowed = torch.tensor([[True, False, True] + [False] * 30])
>>> bits = pack(allowed)
>>> bits.shape, bits.dtype
(torch.Size([1, 2]), torch.int32)
>>> unpack(bits, 33).tolist() == allowed.tolist()
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

WORD = 32


def words(vocab_size: int) -> int:
    """Int32 words per packed row of ``vocab_size`` tokens."""
    return (vocab_size + WORD - 1) // WORD


def _shifts(device: torch.device) -> torch.Tensor:
    import torch

    return torch.arange(WORD, dtype=torch.int64, device=device)


def pack(allowed: torch.Tensor) -> torch.Tensor:
    """``[..., V]`` booleans -> ``[..., ceil(V / 32)]`` int32 words."""
    import torch
    import torch.nn.functional as F

    vocab = allowed.size(-1)
    pad = words(vocab) * WORD - vocab
    if pad:
        allowed = F.pad(allowed, (0, pad), value=False)
    grouped = allowed.reshape(*allowed.shape[:-1], -1, WORD).to(torch.int64)
    packed = (grouped << _shifts(allowed.device)).sum(-1)
    # bit 31 set: the value exceeds int32's range; wrap it as two's complement
    return torch.where(packed >= 2**31, packed - 2**32, packed).to(torch.int32)


def unpack(bits: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """``[..., W]`` int32 words -> ``[..., vocab_size]`` booleans."""
    import torch

    wide = bits.to(torch.int64).unsqueeze(-1) >> _shifts(bits.device)
    allowed = (wide & 1).bool().reshape(*bits.shape[:-1], bits.size(-1) * WORD)
    return allowed[..., :vocab_size]


def full(shape: tuple[int, ...], vocab_size: int) -> torch.Tensor:
    """Words that allow every token: ``[*shape, ceil(vocab_size / 32)]``."""
    import torch

    return pack(torch.ones(*shape, vocab_size, dtype=torch.bool))
