"""The grammar extension point: what an LLM output must look like, per example.

A ``Grammar`` names an output type and builds, for one example, a ``Constraint`` (what the
decoder enforces: a JSON Schema, a regex, a choice list or a Lark CFG) and validates a
finished output. Constraints are plain data, hashable by ``key``, so a compiled form can be
cached by schema hash: two examples whose constraint text is equal share one compile.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from toolkit.errors import VtkError
from toolkit.registry import Registry

ConstraintKind = Literal["json_schema", "regex", "choice", "cfg"]


@dataclass(frozen=True)
class Constraint:
    """What the decoder enforces. ``spec`` is the schema (JSON text), regex, Lark grammar, or
    the JSON list of choices; ``engine`` names the Outlines backend that compiles it.
    ``fallback`` is a JSON Schema (text) accepting everything ``spec`` accepts, for a server
    that takes only JSON schemas (a grammar built for llguidance, such as the rewrite's
    distinct titles, is enforced locally; a server gets the looser schema)."""

    kind: ConstraintKind
    spec: str
    engine: str = "outlines_core"
    max_tokens: int = 256
    fallback: str | None = None

    @property
    def key(self) -> str:
        """Cache key: identical kind + engine + spec compile once."""
        text = f"{self.kind}\0{self.engine}\0{self.spec}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def schema(self) -> dict[str, Any] | None:
        return json.loads(self.spec) if self.kind == "json_schema" else None


@dataclass(frozen=True)
class ValidationIssue:
    """One problem in an output: where (a JSON path such as ``$.items[3].count``) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class GrammarContext:
    """What a grammar may depend on for one example: history length, candidate count,
    the domain's action set. Grammars that need nothing ignore it."""

    n_interactions: int = 0
    n_candidates: int = 10
    domain: str = "streaming"
    extra: dict[str, Any] = field(default_factory=dict)


class Grammar(ABC):
    """An output type. Subclasses register an instance factory in ``GRAMMARS``."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    @abstractmethod
    def constraint(self, ctx: GrammarContext) -> Constraint:
        """The decoder constraint for one example."""

    @abstractmethod
    def validate(self, text: str, ctx: GrammarContext | None = None) -> list[ValidationIssue]:
        """All problems of a finished output (empty when valid)."""

    def parse(self, text: str, ctx: GrammarContext | None = None) -> Any:
        """The parsed output (JSON value, label...). Raises ValueError when invalid."""
        issues = self.validate(text, ctx)
        if issues:
            raise ValueError("; ".join(str(i) for i in issues))
        return json.loads(text)


GRAMMARS: Registry[type[Grammar]] = Registry("grammar", group="vtk.grammars")
"""Name -> a ``Grammar`` subclass (built without arguments) or a ready ``Grammar`` instance;
``grammars.get_grammar`` resolves names, entry points, dotted paths and files."""


class GrammarError(VtkError, ValueError):
    """A grammar that cannot become a constraint (an unenforced schema keyword, a bad file);
    ``issues`` lists every problem, each with its JSON path inside the schema."""

    def __init__(self, message: str, issues: list[ValidationIssue] | None = None):
        self.issues = list(issues or [])
        lines = [message, *(f"  {issue}" for issue in self.issues)]
        super().__init__("\n".join(lines))


def _ordered(value: Any, keep_order: bool = False) -> Any:
    if isinstance(value, dict):
        keys = list(value) if keep_order else sorted(value)
        return {k: _ordered(value[k], keep_order=(k == "properties")) for k in keys}
    if isinstance(value, list):
        return [_ordered(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """The one text of a JSON value: keys sorted, no spaces, so equal schemas hash equal.

    The members of a schema's ``properties`` keep their order: the engines emit properties
    in the order the schema lists them, so sorting them would change what the model
    writes first (a rewrite item's ``count`` before its ``title``).

    >>> canonical_json({"b": 1, "a": [1, 2]})
    '{"a":[1,2],"b":1}'
    >>> canonical_json({"type": "object", "properties": {"title": {}, "count": {}}})
    '{"properties":{"title":{},"count":{}},"type":"object"}'
    """
    return json.dumps(_ordered(value), separators=(",", ":"))


def context_from_dict(data: Any) -> GrammarContext:
    """A ``GrammarContext`` from JSON (a ``context`` field of a verbalized row); raises
    ``ValueError(field, message)`` naming the first bad field."""
    if not isinstance(data, dict):
        raise ValueError("context", f"expected an object, got {type(data).__name__}")
    fields = {"n_interactions": int, "n_candidates": int, "domain": str, "extra": dict}
    for key, value in data.items():
        if key not in fields:
            raise ValueError(f"context.{key}", f"unknown field; known: {', '.join(fields)}")
        kind = fields[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"context.{key}", f"expected {kind.__name__}, got {value!r}")
        if kind is int and value < 0:
            raise ValueError(f"context.{key}", f"must not be negative, got {value}")
    return GrammarContext(**data)
