"""The constraint engines under Outlines, what each one enforces, and which one each grammar uses.

A schema keyword an engine does not enforce is worse than an error: the engine compiles
the schema anyway, the model emits outputs the schema rejects, and nothing says why. So
every engine keeps an explicit set of the keywords (and ``format`` values) it enforces,
measured by compiling a schema per keyword and checking that an instance violating only
that keyword is refused (outlines 1.3.3, outlines_core 0.2.14, xgrammar 0.2.8, llguidance
1.9.1, the SmolLM2 tokenizer). ``check_schema`` lists every other keyword with its path.

What was measured (two CPU cores, SmolLM2's 49k vocabulary):

* outlines_core compiles, then ignores: minimum, maximum, the exclusive bounds, multipleOf,
  uniqueItems, contains, not, if/then, oneOf (treated as anyOf), propertyNames,
  dependentRequired, min/maxProperties; it errors on allOf, patternProperties and unknown
  formats. Whitespace ``[ ]?`` (at most one byte per gap). Eager compile: action plan
  0.1 s (n=10) to 1.0 s (n=100), rewrite 1.3 s (30 titles) to 2.3 s (free-text fallback;
  an earlier rewrite schema took 8.4 s), choice 2 ms.
* xgrammar ignores uniqueItems, contains, not, if/then, oneOf, allOf, dependentRequired,
  maxProperties. Through Outlines whitespace is free (no bound). Eager compile: 2–8 ms
  for every built-in schema here (1.8 s for an earlier rewrite schema).
* llguidance ignored nothing seen: it refuses uniqueItems, contains, not, if, oneOf,
  propertyNames, dependentRequired and unevaluatedProperties itself. No whitespace with
  ``"x-guidance": {"whitespace_flexible": false}``. Lazy: 0 s up front, ~1 ms at the first
  step (plus a one-off kernel warm-up of a few seconds per process, as outlines_core).

The per-token mask cost 0.1–0.7 ms on all three against ~85 ms per decode step of the
135M model, so the choice is about compile time, coverage and whitespace, never speed:

* ``choice``: **outlines_core**. The label list is the same for every example with the
  same number of candidates and compiles in milliseconds; a regex has no whitespace.
* ``action_plan``, ``rewrite`` and user JSON Schemas: **llguidance**. It compiles lazily
  (nothing up front, where outlines_core spent ~1 s per action-plan length and 1–8 s per
  rewrite schema, which differs per example), its mask cost the same per step as
  outlines_core's (0.11 vs 0.10 ms), it enforces numeric bounds (``count`` 1..99) that
  outlines_core ignores, refuses unknown keywords itself, and ``x-guidance``
  ``whitespace_flexible: false`` in the schema makes outputs compact: no decode step is
  spent on a space. xgrammar compiles fast too, but through Outlines its whitespace is
  free (``any_whitespace`` cannot be switched off there), so no token budget is safe.
* Lark CFGs: **llguidance** (the only engine that reads Lark).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from grammars.base import ConstraintKind, GrammarError, ValidationIssue
from grammars.validation import json_path

ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "$anchor",
        "title",
        "description",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
    }
)
"""Keywords that change no instance's validity: allowed everywhere."""

_CORE = frozenset(
    {
        "type",
        "enum",
        "const",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "prefixItems",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "anyOf",
        "$ref",
        "$defs",
        "definitions",
    }
)
_NUMERIC = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"})
_FORMATS = frozenset({"date", "date-time", "time", "email", "uri", "uuid"})


@dataclass(frozen=True)
class Engine:
    """One Outlines backend: the kinds it compiles, the schema keywords and formats it
    enforces, how much whitespace it lets between JSON tokens, and when it compiles."""

    name: str
    kinds: frozenset[str]
    keywords: frozenset[str]
    formats: frozenset[str]
    whitespace: int | None
    """Most whitespace bytes between two JSON tokens as Outlines calls it; None: unbounded."""
    lazy: bool
    """Compiles while decoding (no up-front cost) rather than before the first token."""

    def prepare(self, schema: dict[str, Any]) -> dict[str, Any]:
        """The schema as this engine should receive it (compact whitespace where the engine
        reads that from the schema)."""
        if self.name == "llguidance":
            return {**schema, "x-guidance": {"whitespace_flexible": False}}
        return schema


ENGINES: dict[str, Engine] = {
    "outlines_core": Engine(
        name="outlines_core",
        kinds=frozenset({"json_schema", "regex", "choice"}),
        keywords=_CORE,
        formats=_FORMATS,
        whitespace=1,
        lazy=False,
    ),
    "xgrammar": Engine(
        name="xgrammar",
        kinds=frozenset({"json_schema", "regex", "choice"}),
        keywords=_CORE | _NUMERIC | {"patternProperties", "propertyNames"},
        formats=_FORMATS
        | {"duration", "hostname", "ipv4", "ipv6", "uri-reference", "uri-template", "json-pointer"},
        whitespace=None,
        lazy=False,
    ),
    "llguidance": Engine(
        name="llguidance",
        kinds=frozenset({"json_schema", "regex", "choice", "cfg"}),
        keywords=_CORE
        | _NUMERIC
        | {"allOf", "patternProperties", "minProperties", "maxProperties", "x-guidance"},
        formats=_FORMATS | {"duration", "hostname", "ipv4", "ipv6"},
        whitespace=0,
        lazy=True,
    ),
}

DEFAULT_ENGINE: dict[ConstraintKind, str] = {
    "json_schema": "llguidance",
    "regex": "outlines_core",
    "choice": "outlines_core",
    "cfg": "llguidance",
}
"""The engine for a kind when a grammar does not pick one (see the module docstring)."""


def get_engine(name: str) -> Engine:
    try:
        return ENGINES[name]
    except KeyError:
        known = ", ".join(ENGINES)
        raise GrammarError(f"unknown constraint engine {name!r}; known: {known}") from None


def _subschemas(schema: dict[str, Any], path: list[str | int]) -> Iterator[tuple[Any, list]]:
    """Every schema nested in ``schema`` with its path (whatever the engine)."""
    for key in ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas"):
        value = schema.get(key)
        if isinstance(value, dict):
            for name, sub in value.items():
                yield sub, [*path, key, name]
    for key in ("prefixItems", "anyOf", "allOf", "oneOf"):
        value = schema.get(key)
        if isinstance(value, list):
            for i, sub in enumerate(value):
                yield sub, [*path, key, i]
    for key in (
        "items",
        "additionalProperties",
        "unevaluatedProperties",
        "unevaluatedItems",
        "contains",
        "propertyNames",
        "not",
        "if",
        "then",
        "else",
    ):
        if isinstance(schema.get(key), dict):
            yield schema[key], [*path, key]


def _enforced_by(keyword: str) -> str:
    names = [e.name for e in ENGINES.values() if keyword in e.keywords]
    return f"enforced by: {', '.join(names)}" if names else "no engine enforces it"


def check_schema(schema: Any, engine: str) -> list[ValidationIssue]:
    """Every keyword (or ``format``) of ``schema`` that ``engine`` would not enforce, with its
    JSON path inside the schema. Annotations (``title``, ``description``...) and ``x-``
    vendor keys other than ``x-guidance`` are allowed: they constrain nothing.

    >>> schema = {"type": "integer", "minimum": 1}
    >>> issue = check_schema(schema, "outlines_core")[0]
    >>> issue.path, issue.message.split(" (")[0]
    ('$.minimum', "keyword 'minimum' is not enforced by outlines_core")
    >>> check_schema(schema, "llguidance")
    []
    """
    return [issue for _, issue in _unsupported(schema, engine)]


def _unsupported(schema: Any, engine: str) -> list[tuple[str, ValidationIssue]]:
    """``(keyword, issue)`` for every keyword or format ``engine`` would not enforce."""
    eng = get_engine(engine)
    issues: list[tuple[str, ValidationIssue]] = []
    if "json_schema" not in eng.kinds:
        return [("$schema", ValidationIssue("$", f"{engine} does not compile JSON Schemas"))]

    def walk(node: Any, path: list[str | int]) -> None:
        if isinstance(node, bool):
            return
        if not isinstance(node, dict):
            issues.append(("schema", ValidationIssue(json_path(path), "a schema is an object")))
            return
        for key, value in node.items():
            where = json_path([*path, key])
            if key in ANNOTATIONS or (key.startswith("x-") and key != "x-guidance"):
                continue
            if key not in eng.keywords:
                message = f"keyword {key!r} is not enforced by {engine} ({_enforced_by(key)})"
                issues.append((key, ValidationIssue(where, message)))
            elif key == "format" and value not in eng.formats:
                message = (
                    f"format {value!r} is not enforced by {engine} "
                    f"(it enforces: {', '.join(sorted(eng.formats))})"
                )
                issues.append((f"format {value!r}", ValidationIssue(where, message)))
        for sub, sub_path in _subschemas(node, path):
            walk(sub, sub_path)

    walk(schema, [])
    return issues


def require_supported(schema: Any, engine: str, *, source: str = "schema") -> None:
    """Raise ``GrammarError`` naming every keyword ``engine`` would silently ignore."""
    found = _unsupported(schema, engine)
    if found:
        words = ", ".join(sorted({keyword for keyword, _ in found}))
        raise GrammarError(
            f"{source} uses {words}, which {engine} does not enforce "
            "(remove them, or pick an engine that enforces them):",
            [issue for _, issue in found],
        )
