"""Reasoners: embedding (the cheap Stage 1 oracle), bm25 (a lexical judge) and llm (a causal LM).

``get_reasoner(name)`` imports the built-ins so that their registration has run;
``build_reasoner`` makes a ready one from its name and the usual settings, and
``answer_contexts`` asks it about many (context, candidates) pairs in batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from toolkit.reasoners.base import REASONERS, Answer, Reasoner, ReasonerInput
from toolkit.registry import import_builtins

if TYPE_CHECKING:
    from toolkit.records import Catalog
    from toolkit.tasks import RerankExample

_BUILTINS = ("bm25", "embedding", "llm", "openai")


def load_builtins() -> None:
    import_builtins("toolkit.reasoners", _BUILTINS)


def get_reasoner(name: str) -> type[Reasoner]:
    load_builtins()
    return REASONERS.get(name)


def build_reasoner(
    name: str,
    catalog: Catalog,
    *,
    model: str | None = None,
    seed: int = 0,
    batch_size: int = 8,
    domain: str | None = None,
    options: dict[str, Any] | None = None,
) -> Reasoner:
    """A reasoner by registry name. Each setting reaches the reasoners whose constructor
    takes it: ``model`` as ``model_path``, ``seed``, ``batch_size``, ``domain``; ``options``
    are passed as they are."""
    import inspect

    cls = get_reasoner(name)
    params = inspect.signature(cls).parameters
    wanted = {"model_path": model, "seed": seed, "batch_size": batch_size, "domain": domain}
    kwargs = {k: v for k, v in wanted.items() if k in params and v is not None}
    return cls(catalog, **{**kwargs, **(options or {})})


def answer_contexts(
    reasoner: Reasoner,
    examples: Sequence[RerankExample],
    contexts: Sequence[str],
    *,
    batch_size: int = 8,
    progress: bool = False,
    desc: str = "reasoner",
    orders: Sequence[tuple[int, ...] | None] | None = None,
) -> list[Answer]:
    """The reasoner's ``Answer`` for each (context, example candidates), in batches;
    ``orders`` (one per example: an episode's) fixes the candidate order shown."""
    from toolkit.progress import Bar

    orders = [None] * len(examples) if orders is None else orders
    inputs = [
        ReasonerInput(c, ex.candidates, order)
        for c, ex, order in zip(contexts, examples, orders, strict=True)
    ]
    answers: list[Answer] = []
    with Bar(len(inputs), desc, enabled=progress) as bar:
        for start in range(0, len(inputs), batch_size):
            answers += reasoner.answer_batch(inputs[start : start + batch_size])
            bar.update(min(batch_size, len(inputs) - start))
    return answers


__all__ = [
    "REASONERS",
    "Answer",
    "Reasoner",
    "ReasonerInput",
    "answer_contexts",
    "build_reasoner",
    "get_reasoner",
    "load_builtins",
]
