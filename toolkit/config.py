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


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"trainer.lr=1e-5"`` -> ``(["trainer", "lr"], 1e-05)`` (values parsed as YAML)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form key=value")
    key, value = text.split("=", 1)
    if not key.strip():
        raise ConfigError(f"override {text!r} has an empty key")
    return key.strip().split("."), yaml.safe_load(value) if value else None


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for text in overrides:
        keys, value = parse_override(text)
        node = data
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {text!r}: {key!r} is not a mapping")
        node[keys[-1]] = value
    return data


def _line_of(source: str, path: tuple[Any, ...]) -> int | None:
    """Best-effort YAML line of the last key in ``path``."""
    if not path:
        return None
    key = str(path[-1])
    for lineno, line in enumerate(source.splitlines(), 1):
        if re.match(rf"\s*-?\s*{re.escape(key)}\s*:", line):
            return lineno
    return None


def load_config(model: type[M], path: str | Path | None, overrides: list[str] = ()) -> M:
    """Load ``path`` (YAML) into ``model``, apply overrides, report all errors at once."""
    source = ""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        source = path.read_text(encoding="utf-8")
        try:
            data = yaml.safe_load(source) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: top level must be a mapping")
    data = apply_overrides(data, list(overrides))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            line = _line_of(source, err["loc"])
            where = f"{path}:{line}" if line else f"{path or '<overrides>'}"
            lines.append(f"{where}: field '{loc}': {err['msg']}")
        raise ConfigError(f"{len(lines)} problem(s) in config:\n" + "\n".join(lines)) from None
