"""Data sources behind one registry: ``read_source("movielens-100k", path)``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from toolkit.records import Dataset
from toolkit.registry import import_builtins
from toolkit.sources.base import SOURCES, ErrorPolicy, OnError, RatingEvents, Source

_BUILTINS = ("generic", "movielens", "amazon", "synthea", "synthetic")


def load_builtins() -> None:
    import_builtins("toolkit.sources", _BUILTINS)


def get_source(name: str) -> type[Source]:
    load_builtins()
    return SOURCES.get(name)


def read_source(
    name: str, path: str | Path | None, *, on_error: OnError = "raise", **options: Any
) -> Dataset:
    """Read a data set with the named source; ``path`` may be None for generated sources."""
    source = get_source(name)()
    return source.read(Path(path) if path is not None else None, on_error=on_error, **options)


__all__ = [
    "SOURCES",
    "ErrorPolicy",
    "OnError",
    "RatingEvents",
    "Source",
    "get_source",
    "load_builtins",
    "read_source",
]
