"""Errors that tell the user what was wrong, where, and what to do."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


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
