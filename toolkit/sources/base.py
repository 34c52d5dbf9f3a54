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

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from toolkit.errors import ConfigError, InputError, Problem
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
    options_model: ClassVar[type[BaseModel] | None] = None
    """For a ``read`` taking ``**options``: the model those options must fit."""

    @classmethod
    def check_options(cls, options: dict[str, Any], where: str = "option") -> dict[str, Any]:
        """Validate ``options`` against ``read``'s keyword arguments (their type hints) or
        ``options_model``, before any data is read; a ConfigError lists every problem."""
        model = cls.options_model or _options_model(cls)
        if model is None:
            return dict(options)
        known = list(model.model_fields)
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ConfigError(
                f"{where} {', '.join(unknown)}: source {cls.name!r} takes no such option; "
                f"it takes: {', '.join(known) or 'none'}"
            )
        try:
            model.model_validate(options)
        except ValidationError as exc:
            from toolkit.errors import validation_lines

            lines = [
                f"{where} {line.removeprefix('field ').replace(chr(39), '', 2)}"
                for line in validation_lines(exc)
            ]
            raise ConfigError(
                f"invalid option(s) of source {cls.name!r}:\n" + "\n".join(lines)
            ) from None
        return dict(options)

    @abstractmethod
    def read(self, path: Path, *, on_error: OnError = "raise", **options: Any) -> Dataset:
        """Read ``path`` (a file or a folder, per format) into histories and a catalog."""


def _options_model(cls: type[Source]) -> type[BaseModel] | None:
    """A pydantic model of ``cls.read``'s keyword-only options (None if it takes ``**``)."""
    import inspect
    import typing

    params = inspect.signature(cls.read).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return None
    try:
        hints = typing.get_type_hints(cls.read)
    except Exception:  # an unresolvable hint: check names only
        hints = {}
    fields = {
        n: (hints.get(n, Any), p.default)
        for n, p in params.items()
        if p.kind is p.KEYWORD_ONLY and n != "on_error"
    }
    config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")
    return create_model(f"{cls.__name__}Options", __config__=config, **fields)


SOURCES: Registry[type[Source]] = Registry("source", group="vtk.sources")
