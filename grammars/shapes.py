"""Rewrite shapes: what a domain's ``rewrite`` grammar needs around it to verbalize.

A shape pairs a grammar with the three things the rewrite verbalizer does with it: the
``GrammarContext`` of one history (the enumerations its schema is built from), the text a
valid output renders to, and an optional rule-based output (the ``heuristic_rewrite``
verbalizer and the warm-start target). ``shape_for(grammar)`` finds the registered shape
of a grammar, else the generic ``SchemaShape``: a user's JSON Schema, rendered as one
``key: value`` line per field, with no rule-based output.

Built-ins: ``rewrite`` (summary, aggregated items, preferences; every domain by default)
and ``clinical_summary`` (``grammars.clinical``; the healthcare domain).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from toolkit.registry import Registry

if TYPE_CHECKING:
    from actions.domains import Domain
    from grammars.base import GrammarContext
    from toolkit.records import Catalog, History


class Shape(ABC):
    """How the rewrite verbalizer uses one grammar."""

    grammar: str
    """The grammar's name."""
    hint: str = "matching the schema"
    """The shape in a few words, for the prompt (``schema_hint``)."""

    @abstractmethod
    def context(self, history: History, catalog: Catalog, domain: Domain) -> GrammarContext:
        """What the grammar's constraint for this history is built from."""

    @abstractmethod
    def render(self, value: Any, history: History, catalog: Catalog, domain: Domain) -> str:
        """The text of a valid output (its parsed JSON value)."""

    def heuristic(self, history: History, catalog: Catalog, domain: Domain) -> Any:
        """A rule-based output, as the JSON value the grammar accepts."""
        from toolkit.errors import ConfigError

        raise ConfigError(
            f"grammar {self.grammar!r} has no rule-based rewrite; use the rewrite verbalizer "
            "with a model, or give the domain a rewrite grammar with one (rewrite, "
            "clinical_summary)"
        )

    def meta(self, value: Any) -> dict[str, Any]:
        """Counts for a verbalization's meta (what was kept)."""
        return {}


SHAPES: Registry[Shape] = Registry("rewrite shape")
"""Grammar name -> its ``Shape``."""


class SchemaShape(Shape):
    """Any JSON grammar: a constant context and a ``key: value`` rendering."""

    def __init__(self, grammar: str):
        self.grammar = grammar
        self.hint = "matching this schema: " + _schema_hint(grammar)

    def context(self, history: History, catalog: Catalog, domain: Domain) -> GrammarContext:
        from grammars.base import GrammarContext

        return GrammarContext(n_interactions=len(history), domain=domain.name)

    def render(self, value: Any, history: History, catalog: Catalog, domain: Domain) -> str:
        return render_json(value)


def _schema_hint(grammar: str) -> str:
    """The property names of an object schema (``{"topic", "items"}``), else ``JSON``."""
    from grammars.loader import get_grammar

    try:
        schema = get_grammar(grammar).schema(None)  # type: ignore[attr-defined]
    except (AttributeError, TypeError):
        return "JSON"
    props = schema.get("properties") if isinstance(schema, dict) else None
    return "{" + ", ".join(json.dumps(k) for k in props) + "}" if props else "JSON"


def render_json(value: Any, key: str | None = None) -> str:
    """A JSON value as short lines: ``key: a, b`` for lists of scalars, one line per object.

    >>> print(render_json({"topic": "games", "liked": ["Halo", "Zelda"], "n": 2}))
    topic: games
    liked: Halo, Zelda
    n: 2
    """
    if isinstance(value, dict):
        lines = [render_json(v, k) for k, v in value.items() if v not in (None, "", [], {})]
        text = "\n".join(line for line in lines if line)
        return f"{key}:\n{text}" if key and text else text
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            joined = ", ".join(str(v) for v in value)
            return f"{key}: {joined}" if key else joined
        inner = "\n".join(
            "; ".join(f"{k} {v}" for k, v in v.items()) if isinstance(v, dict) else str(v)
            for v in value
        )
        return f"{key}:\n{inner}" if key else inner
    return f"{key}: {value}" if key else str(value)


def shape_for(grammar: str) -> Shape:
    """The registered shape of ``grammar``, else a ``SchemaShape`` of it."""
    from grammars.loader import load_builtins

    load_builtins()
    if grammar in SHAPES:
        return SHAPES.get(grammar)
    return SchemaShape(grammar)


class RewriteShape(Shape):
    """The built-in ``rewrite`` grammar: titles and aspects of this history."""

    grammar = "rewrite"
    hint = (
        '{"summary": short text, "aggregated_items": [{"title", "count", "signal"}], '
        '"preferences": [{"aspect", "polarity"}]}'
    )

    def context(self, history: History, catalog: Catalog, domain: Domain) -> GrammarContext:
        from toolkit.verbalizers.rewrite import grammar_context

        return grammar_context(history, catalog, domain.name)

    def render(self, value: Any, history: History, catalog: Catalog, domain: Domain) -> str:
        from grammars.rewrite import Rewrite
        from toolkit.verbalizers.rewrite import render_rewrite

        return render_rewrite(Rewrite.model_validate(value), history, catalog)

    def heuristic(self, history: History, catalog: Catalog, domain: Domain) -> Any:
        from toolkit.verbalizers.heuristic import heuristic_rewrite

        return heuristic_rewrite(history, catalog, domain=domain.name)

    def meta(self, value: Any) -> dict[str, Any]:
        return {
            "rewrite": value,
            "aggregated_runs": sum(1 for a in value["aggregated_items"] if a["count"] > 1),
            "preferences": len(value["preferences"]),
        }


SHAPES.add("rewrite", RewriteShape())
