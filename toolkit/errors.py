"""Errors that tell the user what was wrong, where, and what to do."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


class VtkError(Exception):
    """Base class for every error vtk raises on purpose; the CLI prints it and exits 2."""


@dataclass(frozen=True)
class Problem:
    """One problem in an input, located by file, line and field."""

    message: str
    file: str | None = None
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.file or "<input>"
        if self.line is not None:
            where += f":{self.line}"
        field = f" field '{self.field}':" if self.field else ""
        return f"{where}:{field} {self.message}"


class InputError(VtkError):
    """Bad input: one or more problems, each naming file, line and field."""

    def __init__(self, problems: Problem | Iterable[Problem]):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def at(
        cls, message: str, file: object = None, line: int | None = None, field: str | None = None
    ) -> InputError:
        return cls(Problem(message, None if file is None else str(file), line, field))


class ConfigError(VtkError):
    """A configuration that failed validation; lists every problem at once."""


class MissingDependencyError(VtkError):
    """An optional package or the embedded model is not installed; says how to install it."""


class UnknownNameError(VtkError, KeyError):
    """A registry lookup failed; the message names the known entries."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def validation_lines(exc: Any, prefix: str = "") -> list[str]:
    """One ``field 'a.b': message (got ...)`` line per pydantic error, for any caller that
    validates user input outside ``toolkit.config.load_config``."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        got = ""
        if "input" in err and not isinstance(err["input"], dict):
            shown = repr(err["input"])
            got = f" (got {shown[:60]}{'...' if len(shown) > 60 else ''})"
        lines.append(f"{prefix}field '{loc}': {err['msg']}{got}" if loc else prefix + err["msg"])
    return lines


def user_message(exc: BaseException) -> str | None:
    """The one-paragraph message for an error the user can cause, or None for a bug.

    The CLI's error handler prints this instead of a traceback; anything it returns None
    for is reported as an internal error (the traceback is shown with ``--debug``).
    """
    from pydantic import ValidationError

    if isinstance(exc, VtkError):
        return str(exc)
    if isinstance(exc, ValidationError):
        return f"{exc.error_count()} problem(s):\n" + "\n".join(validation_lines(exc))
    if isinstance(exc, UnicodeDecodeError):
        return f"input is not {exc.encoding} text ({exc.reason} at byte {exc.start})"
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename is not None else ""
        return f"{where}{exc.strerror}"
    if isinstance(exc, RecursionError):
        return "input nested too deeply to read"
    if isinstance(exc, MemoryError):
        return "out of memory (try a smaller --limit, batch size or data set)"
    return None
