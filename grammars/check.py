"""Check a grammar file before a run depends on it: every problem at once.

Errors make the file unusable: not a Draft 2020-12 schema, a keyword or format the engine
would not enforce, an invalid Lark grammar or regex. Warnings say where an output may
not close inside the token budget (unbounded strings, arrays, objects) or where a fixed
``max_tokens`` is below the worst case.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grammars.base import GrammarError, ValidationIssue
from grammars.bounds import max_bytes
from grammars.engines import DEFAULT_ENGINE, ENGINES, check_schema
from grammars.schema import DEFAULT_MAX_TOKENS
from grammars.validation import schema_problems


@dataclass
class CheckReport:
    """What ``check_file`` found; ``ok`` when there is no error."""

    path: str
    kind: str
    engine: str | None = None
    max_tokens: int | None = None
    errors: list[ValidationIssue] = field(default_factory=list)
    warnings: list[ValidationIssue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _read_schema(path: Path) -> dict[str, Any]:
    from toolkit.errors import InputError

    if not path.is_file():
        raise InputError.at("grammar file not found", path)
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError.at(f"invalid JSON ({exc.msg})", path, exc.lineno) from None
    except UnicodeDecodeError as exc:
        raise InputError.at(f"not UTF-8 text ({exc.reason})", path) from None
    if not isinstance(value, dict):
        raise InputError.at("a JSON Schema file holds an object", path, 1)
    return value


def check_schema_file(path: Path, engine: str | None = None) -> CheckReport:
    schema = _read_schema(path)
    settings = schema.pop("x-vtk", {})
    report = CheckReport(str(path), "json_schema")
    if not isinstance(settings, dict):
        report.errors.append(ValidationIssue('$["x-vtk"]', "settings must be an object"))
        settings = {}
    for key in sorted(set(settings) - {"engine", "max_tokens", "description"}):
        report.errors.append(ValidationIssue(f'$["x-vtk"].{key}', "unknown setting"))
    name = engine or settings.get("engine") or DEFAULT_ENGINE["json_schema"]
    report.engine = name
    report.errors += schema_problems(schema)
    if name not in ENGINES:
        known = ", ".join(ENGINES)
        report.errors.append(ValidationIssue("$", f"unknown engine {name!r}; known: {known}"))
        return report
    report.errors += check_schema(schema, name)
    bound = max_bytes(schema, ENGINES[name].whitespace)
    report.warnings += bound.reasons
    fixed = settings.get("max_tokens")
    report.max_tokens = fixed or bound.max_tokens(DEFAULT_MAX_TOKENS)
    if fixed and bound.bytes is not None and fixed <= bound.bytes:
        report.warnings.append(
            ValidationIssue(
                '$["x-vtk"].max_tokens',
                f"{fixed} tokens may cut the longest valid output ({bound.bytes} bytes); "
                f"use at least {bound.bytes + 1}",
            )
        )
    return report


def check_text_file(path: Path, engine: str | None = None) -> CheckReport:
    from grammars.loader import get_grammar

    kind = "cfg" if path.suffix == ".lark" else "regex"
    report = CheckReport(str(path), kind)
    try:
        grammar = get_grammar(str(path))
    except GrammarError as exc:
        report.errors.append(ValidationIssue("$", str(exc)))
        return report
    report.engine = getattr(grammar, "engine", None)
    report.max_tokens = getattr(grammar, "max_tokens", None)
    if engine and engine != report.engine:
        report.errors.append(
            ValidationIssue("$", f"a {kind} grammar compiles with {report.engine}")
        )
    return report


def check_file(path: str | Path, engine: str | None = None) -> CheckReport:
    """Every problem of a ``.json`` schema, ``.lark`` or ``.regex`` grammar file under
    ``engine`` (default: the file's ``x-vtk`` engine, else llguidance for JSON)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        return check_schema_file(path, engine)
    if path.suffix.lower() in (".lark", ".regex"):
        return check_text_file(path, engine)
    raise GrammarError(f"{path}: a grammar file ends in .json, .lark or .regex")
