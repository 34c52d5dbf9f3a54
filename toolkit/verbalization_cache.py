"""Verbalizations cached by content, for serving and for re-runs of ``vtk verbalize``.

An LLM verbalizer's output is a function of the history window it was shown (and the
catalog facts of its items), the verbalizer and its options, the weights, the prompt, the
grammar and the decoding settings; ``verbalization_key`` hashes all of them
(``toolkit.cache.content_key``), so a changed checkpoint, prompt template or grammar is
a different key and recomputes, while an unchanged input is served from the store
without generating. ``CachedVerbalizer`` wraps any ``LLMVerbalizer`` this way and passes
everything else (``name``, ``domain``, ...) through. Rule-based verbalizers are cheap
and deterministic: they are not wrapped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from toolkit.cache import ContentStore, content_key, text_hash, weights_fingerprint
from toolkit.records import Catalog, History
from toolkit.verbalizers.base import LLMVerbalizer, Verbalization, Verbalizer

KEY_VERSION = 1
"""Bumped when the key's parts change meaning (old entries then simply miss)."""


def generator_fingerprint(generator: Any) -> str:
    """What names a generator's weights: a hash of a local model's tensors, or the served
    model's name and address for a remote one."""
    model = getattr(generator, "model", None)
    if model is not None and hasattr(model, "state_dict"):
        return weights_fingerprint(model)
    base = getattr(generator, "base_url", "")
    return f"{type(generator).__name__}:{model}@{base}"


def _jsonable(value: Any) -> Any:
    """Records (pydantic) and settings (dataclasses) as plain JSON values."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def verbalization_key(
    verbalizer: LLMVerbalizer, history: History, catalog: Catalog, weights: str
) -> str:
    """The content key of one history's verbalization by ``verbalizer``."""
    constraint = verbalizer.constraint(history, catalog)
    items = sorted({i.item_id for i in history.interactions})
    return content_key(
        version=KEY_VERSION,
        verbalizer=verbalizer.name,
        verbalizer_class=f"{type(verbalizer).__module__}.{type(verbalizer).__qualname__}",
        domain=verbalizer.domain,
        weights=weights,
        chat=getattr(verbalizer.generator, "chat", None),
        prompt=text_hash(verbalizer.prompt(history, catalog)),
        grammar=None if constraint is None else [constraint.key, constraint.max_tokens],
        decoding=_jsonable(verbalizer.params),
        history=[_jsonable(i) for i in history.interactions],
        items={i: _jsonable(catalog.get(i)) for i in items},
    )


class CachedVerbalizer(Verbalizer):
    """``inner`` with its verbalizations stored in ``store`` by content key.

    ``hits`` and ``misses`` count histories served from the store and generated. The
    weights are fingerprinted once, when wrapped.
    """

    def __init__(self, inner: LLMVerbalizer, store: ContentStore | str | Path):
        super().__init__(inner.tokenizer)
        self.inner = inner
        self.name = inner.name  # type: ignore[misc]
        self.store = store if isinstance(store, ContentStore) else ContentStore(store)
        self.weights = generator_fingerprint(inner.generator)
        self.hits = 0
        self.misses = 0

    def __getattr__(self, attr: str) -> Any:  # domain, structured, target...
        if attr == "inner":
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    def verbalize_batch(
        self, histories: Sequence[History], catalog: Catalog
    ) -> list[Verbalization]:
        keys = [verbalization_key(self.inner, h, catalog, self.weights) for h in histories]
        found = self.store.get_many(keys)
        todo = [i for i, key in enumerate(keys) if key not in found]
        fresh = self.inner.verbalize_batch([histories[i] for i in todo], catalog) if todo else []
        results: dict[int, Verbalization] = {}
        for i, verbalization in zip(todo, fresh, strict=True):
            self.store.put(keys[i], verbalization_json(verbalization))
            results[i] = verbalization
        for i, key in enumerate(keys):
            if i not in results:
                results[i] = from_json(found[key])
        self.hits += len(keys) - len(todo)
        self.misses += len(todo)
        return [results[i] for i in range(len(keys))]


def verbalization_json(v: Verbalization) -> dict[str, Any]:
    """What the store keeps: every field (``compression`` is derived from them)."""
    return dataclasses.asdict(v)


def from_json(data: dict[str, Any]) -> Verbalization:
    return Verbalization(**data)


def maybe_cached(verbalizer: Verbalizer, cache: str | Path | None) -> Verbalizer:
    """``verbalizer`` wrapped in a ``CachedVerbalizer`` when it generates and ``cache`` is set."""
    if cache is None or not isinstance(verbalizer, LLMVerbalizer):
        return verbalizer
    return CachedVerbalizer(verbalizer, cache)
