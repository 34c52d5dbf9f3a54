"""The data-source extension point: a reader turns files at a path into a ``Dataset``.

Readers never guess silently: a malformed row raises ``InputError`` naming file, line and
field, unless ``on_error="skip"``, in which case the row is dropped and counted by reason
in ``Dataset.skipped``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel

from toolkit.errors import InputError, Problem
from toolkit.records import Dataset
from toolkit.registry import Registry

OnError = Literal["raise", "skip"]


class RatingEvents(BaseModel):
    """How explicit ratings become events (default: >= 4 thumb up, <= 2 thumb down)."""

    thumb_up_min: float = 4
    thumb_down_max: float = 2
    up: str = "thumb_up"
    down: str = "thumb_down"
    neutral: str = "rated"

    def event(self, rating: float) -> str:
        if rating >= self.thumb_up_min:
            return self.up
        if rating <= self.thumb_down_max:
            return self.down
        return self.neutral


class ErrorPolicy:
    """Collects row problems: raises at once under ``raise``, counts them under ``skip``."""

    def __init__(self, on_error: OnError = "raise"):
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
        self.on_error = on_error
        self.skipped: Counter[str] = Counter()

    def report(self, message: str, file: Path | str, line: int | None, field: str | None) -> None:
        if self.on_error == "raise":
            raise InputError(Problem(message, str(file), line, field))
        self.skipped[f"{Path(file).name}: {field or 'row'}: {message}"] += 1


class Source(ABC):
    """Reads one data format. Options are keyword arguments of ``read``."""

    name: ClassVar[str]
    domain: ClassVar[str] = "streaming"

    @abstractmethod
    def read(self, path: Path, *, on_error: OnError = "raise", **options: Any) -> Dataset:
        """Read ``path`` (a file or a folder, per format) into histories and a catalog."""


SOURCES: Registry[type[Source]] = Registry("source", group="vtk.sources")
