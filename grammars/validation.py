"""Validate finished outputs: parse JSON, check a schema, report every issue with a JSON path.

Every issue names where it is (``$.aggregated_items[2].count``) in a message short enough
to print one per line, however long the output: values are quoted only up to a few dozen
characters and long enumerations are cut.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from grammars.base import ValidationIssue, canonical_json

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def json_path(parts: Iterable[str | int]) -> str:
    """A JSONPath for a location given as keys and indices.

    >>> json_path(["aggregated_items", 2, "count"])
    '$.aggregated_items[2].count'
    >>> json_path([3, "odd key"])
    '$[3]["odd key"]'
    """
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.match(part):
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out


def short(value: Any, limit: int = 40) -> str:
    """A value as compact JSON, cut to ``limit`` characters."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(text: str) -> tuple[Any, list[ValidationIssue]]:
    """``(value, [])`` for valid JSON, else ``(None, [issue])`` saying where parsing stopped
    and whether the text simply ended early (an output cut at the token budget).

    >>> parse_json('[1, 2')[1][0].message
    'invalid JSON: the output ends before the value is complete (cut at the token budget?)'
    """
    try:
        return json.loads(text, parse_constant=_reject_constant), []
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            message = "the output ends before the value is complete (cut at the token budget?)"
        else:
            near = text[exc.pos : exc.pos + 20]
            message = f"{exc.msg} at character {exc.pos} (near {near!r})"
        return None, [ValidationIssue("$", f"invalid JSON: {message}")]
    except ValueError as exc:
        return None, [ValidationIssue("$", f"invalid JSON: {exc}")]


def _values(values: list[Any], limit: int = 10) -> str:
    shown = ", ".join(short(v, 30) for v in values[:limit])
    return shown if len(values) <= limit else f"{shown}, … ({len(values)} allowed)"


def _message(error: Any) -> str:
    """A one-line message for a jsonschema error, without echoing a long instance."""
    kind, expected, value = error.validator, error.validator_value, error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    if kind in ("minItems", "maxItems") and isinstance(value, list):
        low, high = schema.get("minItems"), schema.get("maxItems")
        if low is not None and low == high:
            return f"expected exactly {low} items, got {len(value)}"
        word = "at least" if kind == "minItems" else "at most"
        return f"expected {word} {expected} items, got {len(value)}"
    if kind in ("minLength", "maxLength") and isinstance(value, str):
        word = "at least" if kind == "minLength" else "at most"
        return f"expected {word} {expected} characters, got {len(value)}"
    if kind == "enum":
        return f"{short(value)} is not one of: {_values(list(expected))}"
    if kind == "const":
        return f"expected {short(expected)}, got {short(value)}"
    if kind == "type":
        return f"expected type {short(expected)}, got {short(value)}"
    if kind == "pattern":
        return f"{short(value)} does not match the pattern {expected}"
    if kind in ("anyOf", "oneOf"):
        return f"{short(value)} matches none of the {len(expected)} alternatives"
    message = error.message
    return message if len(message) <= 200 else message[:199] + "…"


def _order(error: Any) -> list[tuple[int, int | str]]:
    """Sort key: the error's location, indices compared as numbers."""
    return [(0, p) if isinstance(p, int) else (1, p) for p in error.absolute_path]


@lru_cache(maxsize=256)
def _validator(schema_text: str) -> Any:
    from jsonschema import Draft202012Validator

    schema = json.loads(schema_text)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_issues(value: Any, schema: dict[str, Any]) -> list[ValidationIssue]:
    """Every violation of ``schema`` (JSON Schema Draft 2020-12, formats checked), sorted
    by location (indices numerically).

    >>> schema = {"type": "object", "properties": {"n": {"type": "integer", "maximum": 9}}}
    >>> [str(i) for i in schema_issues({"n": 12}, schema)]
    ['$.n: 12 is greater than the maximum of 9']
    """
    validator = _validator(canonical_json(schema))
    errors = sorted(validator.iter_errors(value), key=_order)
    return [ValidationIssue(json_path(e.absolute_path), _message(e)) for e in errors]


def schema_problems(schema: Any) -> list[ValidationIssue]:
    """Why ``schema`` is not a valid Draft 2020-12 schema (all problems, with paths)."""
    from jsonschema import Draft202012Validator

    if not isinstance(schema, (dict, bool)):
        return [ValidationIssue("$", f"a JSON Schema is an object, got {type(schema).__name__}")]
    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA)
    return [
        ValidationIssue(json_path(e.absolute_path), _message(e))
        for e in sorted(meta.iter_errors(schema), key=_order)
    ]
