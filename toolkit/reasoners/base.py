"""The reasoner extension point: read a verbalized history and candidates, pick one.

A reasoner scores every candidate (higher is better) so that ranking metrics work; its
pick is the arg-max. ``order`` fixes the candidate positions shown (an episode's order, the
same for every verbalizer) while scores come back in the example's original candidate order.
Any reasoner on any backend can serve as the Stage 1 oracle.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from toolkit.records import Catalog
from toolkit.registry import Registry


@dataclass(frozen=True)
class ReasonerInput:
    """One question: the context text, the candidate item ids (the example's order; scores
    come back in it) and ``order``, the order to show them in (``order[i]`` is the candidate
    at shown position i; an episode's order, None: the reasoner's own default)."""

    context: str
    candidates: tuple[str, ...]
    order: tuple[int, ...] | None = None

    def shown_order(self, seed: int = 0) -> tuple[int, ...]:
        """``order``, or a seeded shuffle keyed on the candidates alone (never the context,
        so two verbalizations of one example are shown the same order)."""
        if self.order is not None:
            return tuple(self.order)
        from toolkit.reasoners.positions import shuffled_order

        return tuple(shuffled_order(len(self.candidates), seed, "\0".join(self.candidates)))


@dataclass
class Answer:
    """Scores in the order of ``ReasonerInput.candidates``; ``pick`` is an index into it,
    or None when the output was invalid."""

    pick: int | None
    scores: list[float]
    raw: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return self.pick is not None

    def to_json(self) -> dict[str, Any]:
        """A JSON-able copy (the answer cache's stored value)."""
        import json

        return json.loads(
            json.dumps(
                {"pick": self.pick, "scores": self.scores, "raw": self.raw, "meta": self.meta}
            )
        )

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Answer:
        return cls(
            pick=value["pick"],
            scores=list(value["scores"]),
            raw=value.get("raw", ""),
            meta=dict(value.get("meta") or {}),
        )


class Reasoner(ABC):
    name: ClassVar[str]

    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    @abstractmethod
    def answer_batch(self, inputs: Sequence[ReasonerInput]) -> list[Answer]:
        """Answer many questions at once."""

    def answer(self, inp: ReasonerInput) -> Answer:
        return self.answer_batch([inp])[0]

    def cache_identity(self) -> dict[str, Any] | None:
        """What, besides the question, decides this reader's answers (its weights, its
        scoring settings), for the answer cache; None (the default): answers are not cached
        (readers that take seconds, or whose weights cannot be fingerprinted)."""
        return None

    def question_text(self, inp: ReasonerInput) -> str:
        """The question as the reader sees it (the cache keys an answer on it): by default
        the context, the candidates and the order shown."""
        from toolkit.cache import canonical_json

        order = inp.shown_order(getattr(self, "seed", 0))
        return canonical_json([inp.context, list(inp.candidates), list(order)])


REASONERS: Registry[type[Reasoner]] = Registry("reasoner", group="vtk.reasoners")
