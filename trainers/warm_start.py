"""Warm starts: something run on the policy before GRPO (e.g. SFT on heuristic outputs).

A warm start is a callable ``(model, tokenizer, plan) -> model`` registered by name;
``plan`` is the stage's ``trainers.run.StagePlan`` (its config, training rows, prompt
table and reward), so a warm start can build targets for the very prompts GRPO will see.
It runs on the plain model, before the LoRA adapter is attached, on every start of the
stage (a resumed run included: the checkpoint's adapter was trained on the warm-started
base), so a costly warm start should cache its result. Configs name it in
``warm_start``; the CLI takes ``--warm-start NAME``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from toolkit.registry import Registry

WarmStart = Callable[[Any, Any, Any], Any]

WARM_STARTS: Registry[WarmStart] = Registry("warm start", group="vtk.warm_starts")


def apply_warm_start(name: str | None, model: Any, tokenizer: Any, plan: Any) -> Any:
    """Run the named warm start (none when ``name`` is None) and return the model."""
    if name is None:
        return model
    import trainers.sft  # noqa: F401  (registers the built-in "heuristic")

    return WARM_STARTS.get(name)(model, tokenizer, plan)
