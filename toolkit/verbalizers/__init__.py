"""Verbalizers: template (the baseline), zero_shot, actions, rewrite, heuristic.

``get_verbalizer(name)`` imports the built-ins so that their registration has run.
"""

from __future__ import annotations

from toolkit.registry import import_builtins
from toolkit.verbalizers.base import VERBALIZERS, Verbalization, Verbalizer

_BUILTINS = ("template", "heuristic", "zero_shot", "actions", "rewrite")


def load_builtins() -> None:
    import_builtins("toolkit.verbalizers", _BUILTINS)


def get_verbalizer(name: str) -> type[Verbalizer]:
    load_builtins()
    return VERBALIZERS.get(name)


__all__ = ["VERBALIZERS", "Verbalization", "Verbalizer", "get_verbalizer", "load_builtins"]
