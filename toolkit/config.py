"""Typed configs: YAML files validated by pydantic, with ``key=value`` overrides.

Validation collects every problem and reports them together, each with its dotted field
path (and the YAML line where the field is written, when it can be found).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from toolkit.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error in one line: what is wrong and where (``line 3, column 7``)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is None:
        return problem
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"trainer.lr=1e-5"`` -> ``(["trainer", "lr"], 1e-05)`` (values parsed as YAML,
    safely: a tag such as ``!!python/object`` is refused like any other bad value)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form key=value")
    key, value = text.split("=", 1)
    keys = [k.strip() for k in key.split(".")]
    if not key.strip() or not all(keys):
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        return keys, yaml.safe_load(value) if value else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: invalid YAML value: {_yaml_problem(exc)}") from None
    except RecursionError:
        raise ConfigError(f"override {text!r}: value nested too deeply") from None


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for text in overrides:
        keys, value = parse_override(text)
        node = data
        for key in keys[:-1]:
            if node.get(key) is None:  # an empty YAML section reads as None
                node[key] = {}
            node = node[key]
            if not isinstance(node, dict):
                raise ConfigError(f"override {text!r}: {key!r} is not a mapping")
        node[keys[-1]] = value
    return data


def _override_for(loc: tuple[Any, ...], overrides: list[str]) -> str | None:
    """The last override that set ``loc`` or a field above it."""
    dotted = [str(p) for p in loc]
    for text in reversed(overrides):
        keys = [k.strip() for k in text.split("=", 1)[0].split(".")]
        if dotted[: len(keys)] == keys:
            return text
    return None


def _line_of(source: str, path: tuple[Any, ...]) -> int | None:
    """Best-effort YAML line of the last key in ``path``."""
    if not path:
        return None
    key = str(path[-1])
    for lineno, line in enumerate(source.splitlines(), 1):
        if re.match(rf"\s*-?\s*{re.escape(key)}\s*:", line):
            return lineno
    return None


def read_yaml(path: str | Path, what: str = "config file") -> tuple[dict[str, Any], str]:
    """A YAML mapping and its text; every failure is a ConfigError naming the file (and
    the line of a syntax error)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: {what} not found")
    try:
        source = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        data = yaml.safe_load(source) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: invalid YAML: {_yaml_problem(exc)}") from None
    except RecursionError:
        raise ConfigError(f"{path}: YAML nested too deeply") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data, source


def _hint(err: dict[str, Any]) -> str:
    """A likely cause the message alone does not say."""
    if err.get("type") == "extra_forbidden" and err.get("input") is None and err["loc"]:
        key = err["loc"][-1]
        return (
            f" (a key {key!r} with no value: a comma inside an unquoted value of a {{...}}"
            f' mapping splits it; quote that value, e.g. "..., {key}")'
        )
    return ""


def validation_error(
    exc: ValidationError, path: str | Path | None, source: str = "", overrides: list[str] = ()
) -> ConfigError:
    """One ConfigError listing every problem with file:line (or the override) and field."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        override = _override_for(err["loc"], list(overrides))
        line = _line_of(source, err["loc"]) if override is None else None
        if override is not None:
            where = f"override {override!r}"
        else:
            where = f"{path}:{line}" if line else f"{path or '<config>'}"
        lines.append(f"{where}: field '{loc}': {err['msg']}{_hint(err)}")
    return ConfigError(f"{len(lines)} problem(s) in config:\n" + "\n".join(lines))


def load_config(model: type[M], path: str | Path | None, overrides: list[str] = ()) -> M:
    """Load ``path`` (YAML) into ``model``, apply overrides, report all errors at once."""
    source = ""
    data: dict[str, Any] = {}
    if path is not None:
        data, source = read_yaml(path)
    data = apply_overrides(data, list(overrides))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, path, source, list(overrides)) from None
