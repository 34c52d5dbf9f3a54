"""Helpers for the reader tests: every fixture file is written by the test into tmp_path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from toolkit.errors import InputError


def write(folder: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    """Write ``content`` (text is dedented of a leading newline) to ``folder/name``."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(content.removeprefix("\n").encode(encoding))
    return path


def assert_names(error: pytest.ExceptionInfo[InputError], file: str, line: int, field: str) -> None:
    """The error names the file, the line and the field, in ``file:line: field 'x':`` form."""
    text = str(error.value)
    assert re.search(rf"{re.escape(file)}:{line}: field '{re.escape(field)}':", text), text
    problem = error.value.problems[0]
    assert (Path(problem.file).name, problem.line, problem.field) == (file, line, field)
