"""Grammars whose outputs are JSON under a JSON Schema: one constraint builder, one validator.

``json_constraint`` turns a schema into a ``Constraint``: it refuses keywords the engine
would ignore, adds the engine's compact-whitespace setting, writes the canonical text (so
equal schemas give byte-identical specs and one compile) and sets ``max_tokens`` from the
schema's byte bound, so that a valid output always closes inside the budget.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from functools import lru_cache
from typing import Any, ClassVar

from grammars.base import Constraint, Grammar, GrammarContext, ValidationIssue, canonical_json
from grammars.bounds import max_bytes
from grammars.engines import get_engine, require_supported
from grammars.validation import parse_json, schema_issues

DEFAULT_MAX_TOKENS = 512
"""Budget of a schema with no byte bound (``vtk grammars check`` says why it has none)."""


@lru_cache(maxsize=1024)
def _constraint(text: str, engine: str, max_tokens: int | None, source: str) -> Constraint:
    schema = json.loads(text)
    require_supported(schema, engine, source=source)
    eng = get_engine(engine)
    if max_tokens is None:
        max_tokens = max_bytes(schema, eng.whitespace).max_tokens(DEFAULT_MAX_TOKENS)
    return Constraint("json_schema", canonical_json(eng.prepare(schema)), engine, max_tokens)


def json_constraint(
    schema: dict[str, Any],
    engine: str = "llguidance",
    max_tokens: int | None = None,
    *,
    source: str = "schema",
) -> Constraint:
    """The constraint for ``schema`` under ``engine``; raises ``GrammarError`` naming every
    keyword the engine would not enforce. Cached by the schema's canonical text.

    >>> c = json_constraint({"enum": ["yes", "no"]}, "outlines_core")
    >>> c.spec, c.max_tokens
    ('{"enum":["yes","no"]}', 6)
    """
    return _constraint(canonical_json(schema), engine, max_tokens, source)


class JsonSchemaGrammar(Grammar):
    """A grammar defined by a JSON Schema per example. Subclasses give ``schema(ctx)``
    (``ctx`` is None when validating without a context: the schema should then drop
    what it cannot know, such as an exact length) and may add ``extra_issues``."""

    engine: ClassVar[str] = "llguidance"
    max_tokens: ClassVar[int | None] = None
    """Fixed budget; None derives it from the schema's byte bound."""

    @abstractmethod
    def schema(self, ctx: GrammarContext | None) -> dict[str, Any]:
        """The JSON Schema an output must satisfy for this example."""

    def constraint(self, ctx: GrammarContext) -> Constraint:
        return self.schema_constraint(self.schema(ctx))

    def schema_constraint(self, schema: dict[str, Any]) -> Constraint:
        """The constraint of one of this grammar's schemas (its engine, budget and name)."""
        return json_constraint(
            schema, self.engine, self.max_tokens, source=f"grammar {self.name!r}"
        )

    def validate(self, text: str, ctx: GrammarContext | None = None) -> list[ValidationIssue]:
        value, issues = parse_json(text)
        if issues:
            return issues
        return schema_issues(value, self.schema(ctx)) or self.extra_issues(value, ctx)

    def extra_issues(self, value: Any, ctx: GrammarContext | None) -> list[ValidationIssue]:
        """Checks no schema can express, run on schema-valid values (none by default)."""
        return []
