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

from toolkit.registry import Registry

ConstraintKind = Literal["json_schema", "regex", "choice", "cfg"]


@dataclass(frozen=True)
class Constraint:
    """What the decoder enforces. ``spec`` is the schema (JSON text), regex, Lark grammar, or
    the JSON list of choices; ``engine`` names the Outlines backend that compiles it."""

    kind: ConstraintKind
    spec: str
    engine: str = "outlines_core"
    max_tokens: int = 256

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
