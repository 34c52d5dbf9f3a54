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


def reader_options(name: str, shifts: int, calibrate: str = "none") -> dict[str, Any]:
    """Position-fair shifts and calibration, for the readers that take them (the LLM
    reader): the options ``build_reasoner`` passes on, the same for every command."""
    import inspect

    params = inspect.signature(get_reasoner(name)).parameters
    wanted = {"shifts": shifts, "calibrate": calibrate}
    return {k: v for k, v in wanted.items() if k in params}


def answer_key(identity: dict[str, Any], reasoner: Reasoner, inp: ReasonerInput) -> str:
    """The cache key of one answer: the reader's identity and the question as it sees it."""
    from toolkit.cache import content_key

    return content_key(kind="answer", reader=identity, question=reasoner.question_text(inp))


def answer_contexts(
    reasoner: Reasoner,
    examples: Sequence[RerankExample],
    contexts: Sequence[str],
    *,
    batch_size: int = 8,
    progress: bool = False,
    desc: str = "reasoner",
    orders: Sequence[tuple[int, ...] | None] | None = None,
    store: Any = None,
) -> list[Answer]:
    """The reasoner's ``Answer`` for each (context, example candidates), in batches;
    ``orders`` (one per example: an episode's) fixes the candidate order shown.

    With a ``store`` (``toolkit.cache.ContentStore``) and a reader that names its identity
    (``Reasoner.cache_identity``: the LLM reader), each answer is keyed on that identity and
    the question as the reader sees it, served from the store when present and put there as
    soon as it is computed: an interrupted row resumes, a re-run re-reads nothing. Fresh and
    stored answers go through the same JSON form, so a row scores the same either way."""
    from toolkit.progress import Bar

    orders = [None] * len(examples) if orders is None else orders
    inputs = [
        ReasonerInput(c, ex.candidates, order)
        for c, ex, order in zip(contexts, examples, orders, strict=True)
    ]
    identity = reasoner.cache_identity() if store is not None else None
    keys: list[str | None] = [None] * len(inputs)
    found: dict[int, Answer] = {}
    if identity is not None:
        named = [answer_key(identity, reasoner, inp) for inp in inputs]
        stored = store.get_many(named)
        found = {i: Answer.from_json(stored[k]) for i, k in enumerate(named) if k in stored}
        keys = list(named)
    todo = [i for i in range(len(inputs)) if i not in found]
    with Bar(len(inputs), desc, enabled=progress) as bar:
        bar.update(len(found))
        for start in range(0, len(todo), batch_size):
            idx = todo[start : start + batch_size]
            fresh = reasoner.answer_batch([inputs[i] for i in idx])
            for i, answer in zip(idx, fresh, strict=True):
                if keys[i] is not None:
                    value = answer.to_json()
                    store.put(keys[i], value)
                    answer = Answer.from_json(value)
                found[i] = answer
            bar.update(len(idx))
    return [found[i] for i in range(len(inputs))]


__all__ = [
    "REASONERS",
    "Answer",
    "Reasoner",
    "ReasonerInput",
    "answer_contexts",
    "answer_key",
    "build_reasoner",
    "get_reasoner",
    "load_builtins",
]
