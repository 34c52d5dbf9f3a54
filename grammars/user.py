"""User JSON grammars: a schema as a dict, a ``.json`` schema file, a pydantic model.

A schema file may carry vtk's own settings in a top-level ``"x-vtk"`` object, removed
before the schema reaches an engine::

    {"x-vtk": {"engine": "outlines_core", "max_tokens": 300, "description": "..."},
     "type": "object", ...}

The engine defaults to llguidance: a user schema's keywords are most often enforced
there, and its compact-whitespace flag lets ``max_tokens`` follow from the bounds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grammars.base import GrammarContext, GrammarError, ValidationIssue
from grammars.schema import JsonSchemaGrammar
from grammars.validation import json_path, schema_problems

_SETTINGS = {"engine", "max_tokens", "description"}


class SchemaGrammar(JsonSchemaGrammar):
    """A fixed JSON Schema (the same for every example)."""

    def __init__(
        self,
        schema: dict[str, Any],
        name: str = "schema",
        *,
        engine: str = "llguidance",
        max_tokens: int | None = None,
        description: str = "",
    ):
        problems = schema_problems(schema)
        if problems:
            raise GrammarError(f"grammar {name!r} is not a valid JSON Schema:", problems)
        self._schema, self.name, self.engine = schema, name, engine
        self.max_tokens, self.description = max_tokens, description or "a JSON Schema"

    def schema(self, ctx: GrammarContext | None) -> dict[str, Any]:
        return self._schema


class FileGrammar(SchemaGrammar):
    """A JSON Schema read from a ``.json`` file (``x-vtk`` settings, see the module)."""

    def __init__(self, path: str | Path, **overrides: Any):
        from toolkit.errors import InputError

        self.path = Path(path)
        if not self.path.is_file():
            raise InputError.at("grammar file not found", self.path)
        try:
            schema = json.loads(self.path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError.at(f"invalid JSON ({exc.msg})", self.path, exc.lineno) from None
        except UnicodeDecodeError as exc:
            raise InputError.at(f"not UTF-8 text ({exc.reason})", self.path) from None
        if not isinstance(schema, dict):
            raise InputError.at("a JSON Schema file holds an object", self.path, 1)
        settings = schema.pop("x-vtk", {})
        unknown = set(settings) - _SETTINGS if isinstance(settings, dict) else {"(not an object)"}
        if unknown:
            raise InputError.at(
                f"unknown settings {sorted(unknown)}; known: {sorted(_SETTINGS)}",
                self.path,
                field="x-vtk",
            )
        super().__init__(schema, name=str(self.path), **{**settings, **overrides})


class PydanticGrammar(JsonSchemaGrammar):
    """Outputs that validate as a pydantic model; ``parse`` returns the model instance and
    its own validators run after the schema check (what no schema can say)."""

    def __init__(self, model: type, name: str | None = None, *, engine: str = "llguidance"):
        self.model, self.engine = model, engine
        self.name = name or f"{model.__module__}:{model.__qualname__}"
        self.description = (model.__doc__ or "").strip().split("\n")[0] or "a pydantic model"
        self._schema = model.model_json_schema()  # type: ignore[attr-defined]

    def schema(self, ctx: GrammarContext | None) -> dict[str, Any]:
        return self._schema

    def extra_issues(self, value: Any, ctx: GrammarContext | None) -> list[ValidationIssue]:
        from pydantic import ValidationError

        try:
            self.model.model_validate(value)  # type: ignore[attr-defined]
        except ValidationError as exc:
            return [ValidationIssue(json_path(e["loc"]), e["msg"]) for e in exc.errors()]
        return []

    def parse(self, text: str, ctx: GrammarContext | None = None) -> Any:
        issues = self.validate(text, ctx)
        if issues:
            raise ValueError("; ".join(map(str, issues)))
        return self.model.model_validate_json(text)  # type: ignore[attr-defined]
