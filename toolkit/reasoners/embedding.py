"""The embedding oracle: cosine between the verbalized context and each candidate's text.

A cheap Stage 1 reward signal that still reads the verbalization: the context is cut into
units (lines by default), every unit is embedded, and the context vector is their mean,
optionally weighted towards recent lines. What a verbalizer keeps, drops and stresses
changes the unit set and so the answer, at a fraction of an LLM's cost. MiniLM sees at most
``max_length`` word pieces, so a whole 100-line log cannot be embedded as one text; a unit
longer than that is cut further instead of being truncated.

Candidates are embedded from catalog text, ``Kolya (1996). Genres: Comedy`` (cached per
item id). The pick is the arg-max; exact ties (an empty context scores every candidate 0,
two items may share title and genres) go to the tied candidate shown first in the question's
order (an episode's seeded order), so a tie is a fair guess rather than "always slot A".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit.reasoners.base import REASONERS, Answer, Reasoner, ReasonerInput
from toolkit.reasoners.positions import PositionStats, best_shown_first
from toolkit.records import Catalog, Item

if TYPE_CHECKING:
    from toolkit.embeddings import SentenceEncoder

ITEM_FIELDS = ("title", "year", "genres", "tags", "description")


def catalog_text(item: Item, fields: Sequence[str] = ("title", "year", "genres")) -> str:
    """The text a candidate is embedded from.

    >>> catalog_text(Item(item_id="242", title="Kolya", year=1996, genres=("Comedy",)))
    'Kolya (1996). Genres: Comedy'
    >>> catalog_text(Item(item_id="1", title="Heat", tags=("heist",)), ("title", "tags"))
    'Heat. Tags: heist'
    """
    parts = []
    if "title" in fields:
        parts.append(item.display_title if "year" in fields else item.title)
    elif "year" in fields and item.year is not None:
        parts.append(str(item.year))
    if "genres" in fields and item.genres:
        parts.append("Genres: " + ", ".join(item.genres))
    if "tags" in fields and item.tags:
        parts.append("Tags: " + ", ".join(item.tags))
    if "description" in fields and item.description:
        parts.append(item.description.strip())
    return ". ".join(p.rstrip(".") for p in parts if p)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _whole(text: str) -> list[str]:
    return [text.strip()] if text.strip() else []


UNITS: dict[str, Callable[[str], list[str]]] = {"line": _lines, "text": _whole}
"""How a context is cut into units before long units are chunked to the model's limit."""


def recency_weights(n: int, half_life: float | None) -> np.ndarray:
    """Weight per unit, oldest first: 1 for all, or halving every ``half_life`` units back
    from the last one.

    >>> recency_weights(3, 1.0).tolist()
    [0.25, 0.5, 1.0]
    """
    if half_life is None:
        return np.ones(n)
    ages = np.arange(n - 1, -1, -1, dtype=np.float64)
    return np.power(0.5, ages / half_life)


@REASONERS.register("embedding")
class EmbeddingReasoner(Reasoner):
    """Scores = cosine(context vector, candidate vector); one encoder call per batch.

    ``unit``: ``"line"`` (one unit per non-blank line) or ``"text"`` (the whole context).
    ``recency``: None for a plain mean of unit vectors, or a half-life in units for an
    exponential decay towards older (earlier) lines. ``item_fields``: which catalog fields
    make a candidate's text (``title``, ``year``, ``genres``, ``tags``, ``description``).
    """

    name = "embedding"

    def __init__(
        self,
        catalog: Catalog,
        encoder: SentenceEncoder | None = None,
        *,
        unit: str = "line",
        recency: float | None = None,
        item_fields: Sequence[str] = ("title", "year", "genres"),
        seed: int = 0,
    ):
        super().__init__(catalog)
        if unit not in UNITS:
            raise ValueError(f"unknown unit {unit!r}; known: {', '.join(UNITS)}")
        unknown = [f for f in item_fields if f not in ITEM_FIELDS]
        if unknown:
            raise ValueError(f"unknown item field(s) {unknown}; known: {', '.join(ITEM_FIELDS)}")
        if recency is not None and recency <= 0:
            raise ValueError("recency is a half-life in units and must be > 0 (or None)")
        if encoder is None:
            from toolkit.embeddings import default_encoder

            encoder = default_encoder()
        self.encoder = encoder
        self.unit = unit
        self.recency = recency
        self.item_fields = tuple(item_fields)
        self.seed = seed
        self.positions = PositionStats()
        self._items: dict[str, np.ndarray] = {}

    def units(self, context: str) -> list[str]:
        """The texts the context vector is averaged from, oldest first, each within the
        encoder's word-piece limit."""
        return [piece for unit in UNITS[self.unit](context) for piece in self.encoder.chunk(unit)]

    def _embed(self, unit_lists: list[list[str]], item_ids: Sequence[str]) -> np.ndarray:
        """Encode every unit and every not-yet-seen candidate in one call; return one
        unit-length context vector per unit list (a zero row for an empty one)."""
        new_ids = list(dict.fromkeys(i for i in item_ids if i not in self._items))
        texts = [u for units in unit_lists for u in units]
        texts += [catalog_text(self.catalog[i], self.item_fields) for i in new_ids]
        vectors = self.encoder.encode(texts) if texts else np.zeros((0, self.encoder.dim))
        n_units = len(texts) - len(new_ids)
        for i, item_id in enumerate(new_ids):
            self._items[item_id] = vectors[n_units + i].copy()
        contexts = np.zeros((len(unit_lists), vectors.shape[1]), dtype=np.float64)
        start = 0
        for row, units in enumerate(unit_lists):
            if units:
                w = recency_weights(len(units), self.recency)
                mean = w @ vectors[start : start + len(units)].astype(np.float64) / w.sum()
                norm = np.linalg.norm(mean)
                if norm > 0:
                    contexts[row] = mean / norm
            start += len(units)
        return contexts

    def embed_contexts(self, contexts: Sequence[str]) -> np.ndarray:
        """Unit-length context vectors ``[N, dim]`` (zero rows for empty contexts)."""
        return self._embed([self.units(c) for c in contexts], ())

    def answer_batch(self, inputs: Sequence[ReasonerInput]) -> list[Answer]:
        for inp in inputs:
            if not inp.candidates:
                raise ValueError("a question needs at least one candidate")
        unit_lists = [self.units(inp.context) for inp in inputs]
        contexts = self._embed(unit_lists, [c for inp in inputs for c in inp.candidates])
        answers = []
        for inp, units, context in zip(inputs, unit_lists, contexts, strict=True):
            items = np.stack([self._items[c] for c in inp.candidates]).astype(np.float64)
            scores = (items @ context).tolist()
            pick = self._pick(inp, scores)
            self.positions.add(inp.shown_order(self.seed).index(pick), len(scores))
            ranked = sorted(scores, reverse=True)
            answers.append(
                Answer(
                    pick=pick,
                    scores=scores,
                    raw=inp.candidates[pick],
                    meta={
                        "shown_position": inp.shown_order(self.seed).index(pick),
                        "units": len(units),
                        "empty_context": not units,
                        "margin": ranked[0] - ranked[1] if len(ranked) > 1 else 0.0,
                    },
                )
            )
        return answers

    def _pick(self, inp: ReasonerInput, scores: list[float]) -> int:
        return best_shown_first(scores, inp.shown_order(self.seed))

    def stats(self) -> dict[str, Any]:
        """Where the picks landed (``PositionStats.summary``)."""
        return self.positions.summary()
