"""Reasoners: embedding (the cheap Stage 1 oracle) and llm (a causal LM answering a letter).

``get_reasoner(name)`` imports the built-ins so that their registration has run.
"""

from __future__ import annotations

from toolkit.reasoners.base import REASONERS, Answer, Reasoner, ReasonerInput
from toolkit.registry import import_builtins

_BUILTINS = ("embedding", "llm")


def load_builtins() -> None:
    import_builtins("toolkit.reasoners", _BUILTINS)


def get_reasoner(name: str) -> type[Reasoner]:
    load_builtins()
    return REASONERS.get(name)


__all__ = ["REASONERS", "Answer", "Reasoner", "ReasonerInput", "get_reasoner", "load_builtins"]
