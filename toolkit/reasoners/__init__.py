"""Reasoners: embedding (the cheap Stage 1 oracle) and llm (a causal LM answering a letter).

``get_reasoner(name)`` imports the built-ins so that their registration has run.
"""

from __future__ import annotations

import importlib

from toolkit.reasoners.base import REASONERS, Answer, Reasoner, ReasonerInput

_BUILTINS = ("embedding", "llm")


def load_builtins() -> None:
    for name in _BUILTINS:
        try:
            importlib.import_module(f"toolkit.reasoners.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"toolkit.reasoners.{name}":
                raise


def get_reasoner(name: str) -> type[Reasoner]:
    load_builtins()
    return REASONERS.get(name)


__all__ = ["REASONERS", "Answer", "Reasoner", "ReasonerInput", "get_reasoner", "load_builtins"]
