"""What the vLLM tests compare against: two small grammars and vtk's own masked log-probs
of a completion (``trainers.masked_logprobs``: replay the grammar on the completion, then
log-softmax over the allowed tokens of ``logits / temperature``)."""

from __future__ import annotations

import json
from typing import Any

from grammars.base import Constraint

CHOICE = Constraint(
    "choice", json.dumps(["Alpha", "Beta", "Gamma"]), engine="xgrammar", max_tokens=4
)
SCHEMA = Constraint(
    "json_schema",
    json.dumps(
        {
            "type": "object",
            "properties": {
                "genre": {"type": "string", "enum": ["drama", "comedy", "horror"]},
                "n": {"type": "integer", "minimum": 0, "maximum": 9},
            },
            "required": ["genre", "n"],
            "additionalProperties": False,
        }
    ),
    engine="xgrammar",
    max_tokens=24,
)
PROMPTS = ["Pick a word: Alpha, Beta or Gamma.", "Describe a movie taste as JSON."]


def vtk_logprobs(
    model: Any,
    tokenizer: Any,
    prompt_ids: list[int],
    token_ids: list[int],
    constraint: Constraint,
    temperature: float,
) -> tuple[Any, Any]:
    """``(masked, unmasked)`` per-token log-probs of ``token_ids`` after ``prompt_ids``."""
    import torch

    from trainers.masked_logprobs import allowed_masks, masked_token_logprobs

    with torch.no_grad():
        logits = model(torch.tensor([prompt_ids + token_ids])).logits[0]
    logits = logits[len(prompt_ids) - 1 : -1].float() / temperature
    allowed = allowed_masks([constraint], tokenizer, [token_ids], logits.size(-1))
    target = torch.tensor([token_ids])
    masked = masked_token_logprobs(logits[None], target, allowed)[0]
    unmasked = torch.log_softmax(logits, -1).gather(-1, target.T).squeeze(-1)
    return masked, unmasked
