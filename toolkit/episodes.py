"""Episodes: the facts about one example that every row of a comparison must share.

An episode is built once per example, before any verbalizer or reader runs: the history
window the verbalizer is shown (``HistoryView``), ``discovery`` recomputed on that window,
and the order the candidates are shown in, a function of ``(seed, example_id)`` only. Every
verbalizer and every reader of a comparison then sees the same window and the same order,
so two rows differ only by what is being compared, never by where the target happened to
sit. Training (Stage 1 prompts, Stage 2 frozen contexts) applies the same view.

>>> from toolkit.records import History
>>> ex = RerankExample.model_construct(example_id="u1", user_id="u1",
...     history=History(user_id="u1", interactions=()), candidates=("a", "b", "c"),
...     target="b", discovery=True, split="test")
>>> build_episodes([ex], seed=0)[0].order == build_episodes([ex], seed=0)[0].order
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from toolkit.records import Catalog
from toolkit.tasks import RerankExample

DEFAULT_WINDOW = 20
"""Interactions a verbalizer is shown, at training and at evaluation, unless configured."""


def candidate_order(n: int, seed: int, example_id: str) -> tuple[int, ...]:
    """Shown position i holds candidate ``order[i]``; fixed by (seed, example id) alone."""
    from toolkit.reasoners.positions import shuffled_order

    return tuple(shuffled_order(n, seed, f"example\0{example_id}"))


@dataclass(frozen=True)
class Episode:
    """One example as every row of a comparison sees it."""

    example: RerankExample
    """The example cut to the shown window (``discovery`` recomputed on it)."""
    order: tuple[int, ...]
    window: int | None
    _contexts: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def example_id(self) -> str:
        return self.example.example_id

    @property
    def shown_candidates(self) -> tuple[str, ...]:
        return tuple(self.example.candidates[i] for i in self.order)

    def grammar_context(self, grammar: str | None, catalog: Catalog, domain: str) -> Any:
        """The ``GrammarContext`` of ``grammar`` for the shown window (built once)."""
        if grammar is None:
            return None
        key = f"{grammar}\0{domain}"
        if key not in self._contexts:
            from toolkit.verbalize import CONTEXTS

            self._contexts[key] = CONTEXTS[grammar](self.example.history, catalog, domain)
        return self._contexts[key]


def build_episodes(
    examples: Sequence[RerankExample],
    *,
    window: int | None = DEFAULT_WINDOW,
    seed: int = 0,
    shuffle: bool = True,
) -> list[Episode]:
    """One episode per example; ``shuffle=False`` shows candidates in file order."""
    out = []
    for ex in examples:
        n = len(ex.candidates)
        order = candidate_order(n, seed, ex.example_id) if shuffle else tuple(range(n))
        out.append(Episode(ex.shown(window), order, window))
    return out
