"""Generation backends behind one ``Generator`` protocol (``base.py``).

``get_backend(name)`` finds a backend class: the built-in ``transformers`` (Outlines
logits processors; the CPU default), an entry point of group ``vtk.backends`` (where
``vllm`` and ``openai`` plug in) or a dotted path. Callers never switch on the name.
Grammar compilation and the per-row grammar mask live in ``constraints.py``.
"""

from __future__ import annotations

import importlib

from toolkit.backends.base import BACKENDS, Completion, FinishReason, Generator, SamplingParams

_BUILTINS = ("transformers_backend", "openai", "vllm")


def load_builtins() -> None:
    """Import the built-in backends so that their registration has run (cheap: each
    imports torch and transformers only when it generates)."""
    for module in _BUILTINS:
        importlib.import_module(f"toolkit.backends.{module}")


def get_backend(name: str) -> type[Generator]:
    """The ``Generator`` class registered as ``name`` (or at a dotted path)."""
    load_builtins()
    return BACKENDS.get(name)


__all__ = [
    "BACKENDS",
    "Completion",
    "FinishReason",
    "Generator",
    "SamplingParams",
    "get_backend",
    "load_builtins",
]
