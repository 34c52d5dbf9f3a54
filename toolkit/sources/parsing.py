"""The row and field parsing every reader shares: files, delimited tables, ids, numbers, times.

A reader turns each bad value into a ``RowError`` and hands it to ``report_row``, which
raises or counts it by the ``ErrorPolicy``; the error then names the file, the line and the
field. ``read_table``, ``unix_time``, ``iso_time``, ``build_histories`` and ``make_dataset``
are what the generic, MovieLens, LLMRank and Synthea readers are made of.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from toolkit.errors import ConfigError, InputError
from toolkit.records import Catalog, Dataset, History, Interaction, id_problem, timestamp_problem
from toolkit.sources.base import ErrorPolicy, RatingEvents

EPOCH = datetime(1970, 1, 1)
UNDECODED = re.compile("[\udc80-\udcff]")  # what surrogateescape leaves for bad bytes
_NUMBER = re.compile(r"\s*-?\d+(\.\d*)?\s*")
_NO_VALUE = object()


class RowError(ValueError):
    """A bad value in one row: the field, what is wrong with it and (optionally) the value."""

    def __init__(self, field: str | None, message: str, value: object = _NO_VALUE):
        super().__init__(message)
        self.field = field
        self.message = message
        self.value = value


def report_row(policy: ErrorPolicy, file: Path, line: int | None, error: RowError) -> None:
    """Report ``error``; the value is shown when raising and left out of skip counts, which
    then group by reason instead of growing one entry per distinct bad value."""
    message = error.message
    if policy.on_error == "raise" and error.value is not _NO_VALUE:
        shown = repr(error.value)
        message += f" (got {shown[:60]}{'...' if len(shown) > 60 else ''})"
    policy.report(message, file, line, error.field)


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cycle collector while a reader builds its many small, acyclic records:
    the collector finds nothing there and its passes cost a third of ML-100K's read time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def require_file(path: Path, what: str) -> Path:
    """``path`` if it is a file, else an InputError naming it and what it should hold."""
    if not path.is_file():
        raise InputError.at(f"required file is missing: {what}", path)
    return path


def require_path(path: str | Path | None, source: str) -> Path:
    """The path a file reader was given, which must exist."""
    if path is None:
        raise InputError.at(f"source {source!r} reads files: give it a path (--path)")
    path = Path(path)
    if not path.exists():
        raise InputError.at("no such file or folder", path)
    return path


def decode_file(path: Path, encoding: str = "utf-8") -> tuple[str, bool]:
    """The file's text and whether it decoded cleanly; empty files are an error even under
    ``skip``. Undecodable bytes survive as surrogates so the row holding them can be named."""
    data = path.read_bytes()
    if not data.strip():
        raise InputError.at("the file is empty", path)
    try:
        text, clean = data.decode(encoding), True
    except UnicodeDecodeError:
        text, clean = data.decode(encoding, "surrogateescape"), False
    return text.removeprefix("\ufeff"), clean


FIELD_LIMIT = 16 * 1024 * 1024
"""Longest CSV field read (the csv module's own default is 128 kB)."""


def _split_rows(text: str, sep: str, quoted: bool) -> Iterator[tuple[int, list[str] | RowError]]:
    """``(line, fields)`` per non-empty row; a row the csv module cannot split comes as
    ``(line, RowError)``, and so does a quote left open to the end of the file."""
    if quoted:
        yield from _split_quoted(text, sep)
        return
    for lineno, line in enumerate(text.split("\n"), 1):
        if line.strip():
            yield lineno, line.rstrip("\r").split(sep)


def _split_quoted(text: str, sep: str) -> Iterator[tuple[int, list[str] | RowError]]:
    if csv.field_size_limit() < FIELD_LIMIT:
        csv.field_size_limit(FIELD_LIMIT)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    start, lines = 1, None
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problem = str(exc)
            if "field larger" in problem:
                problem = f"a field longer than {FIELD_LIMIT // 2**20} MiB (an unterminated quote?)"
            yield start, RowError(None, f"unreadable CSV row: {problem}")
            start = reader.line_num + 1
            continue
        end = reader.line_num
        if end > start and any("\n" in f for f in fields):
            lines = lines if lines is not None else text.split("\n")
            if "".join(lines[start - 1 : end]).count('"') % 2:
                yield (
                    start,
                    RowError(
                        None,
                        f"unterminated quote: lines {start}-{end} (to the end of the file) "
                        "would be read as one field",
                    ),
                )
                return
        if any(f.strip() for f in fields):
            yield start, fields
        start = end + 1


@dataclass
class Table:
    """A delimited text file: its column names and its rows as ``(line, fields)``, each row
    already checked for its field count and for undecodable bytes."""

    path: Path
    columns: list[str]
    rows: Iterator[tuple[int, list[str]]]

    def index(self, name: str) -> int:
        """Position of a required column; an InputError naming the header when absent."""
        try:
            return self.columns.index(name)
        except ValueError:
            raise InputError.at(
                f"column {name!r} is missing from the header (found: {', '.join(self.columns)})",
                self.path,
                1,
                name,
            ) from None


def read_table(
    path: Path,
    policy: ErrorPolicy,
    *,
    sep: str = ",",
    encoding: str = "utf-8",
    columns: Sequence[str] | None = None,
    quoted: bool = False,
) -> Table:
    """Read a delimited file; ``columns`` names headerless files, else line 1 is the header.

    ``quoted`` parses CSV quoting (``sep`` must then be one character). Rows whose field
    count differs from the columns, or that hold bytes not valid in ``encoding``, are
    reported through ``policy``; a file without rows raises even under ``skip``.
    """
    text, clean = decode_file(path, encoding)
    rows = _split_rows(text, sep, quoted)
    if columns is None:
        header_line, header = next(rows)  # decode_file refused empty files
        if isinstance(header, RowError):
            raise InputError.at(f"header: {header.message}", path, header_line)
        header = [h.strip() for h in header]
        if not clean and any(UNDECODED.search(h) for h in header):
            raise InputError.at(f"the header holds bytes that are not {encoding}", path, 1)
        dupes = sorted({h for h in header if header.count(h) > 1})
        if dupes:
            raise InputError.at("duplicate column in the header", path, header_line, dupes[0])
        columns = header
    return Table(path, list(columns), _checked(path, rows, list(columns), clean, encoding, policy))


def _checked(
    path: Path,
    rows: Iterator[tuple[int, list[str] | RowError]],
    columns: list[str],
    clean: bool,
    encoding: str,
    policy: ErrorPolicy,
) -> Iterator[tuple[int, list[str]]]:
    n, seen = len(columns), False
    for lineno, fields in rows:
        seen = True
        if isinstance(fields, RowError):
            report_row(policy, path, lineno, fields)
            continue
        if len(fields) != n:
            field = columns[len(fields)] if len(fields) < n else f"#{n + 1} (extra)"
            msg = f"expected {n} fields ({', '.join(columns)}), found {len(fields)}"
            policy.report(msg, path, lineno, field)
            continue
        if not clean:
            bad = next(
                (c for c, f in zip(columns, fields, strict=True) if UNDECODED.search(f)), None
            )
            if bad is not None:
                policy.report(f"bytes that are not valid {encoding}", path, lineno, bad)
                continue
        yield lineno, fields
    if not seen:
        raise InputError.at("the file has no rows", path)


def text_id(value: object, field: str) -> str:
    """An id as a non-empty string (ints accepted: JSON and Parquet ids are often numbers)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        if value is None:
            raise RowError(field, "missing id")
        raise RowError(field, "an id must be a string or an integer", value)
    text = str(value).strip()
    if not text:
        raise RowError(field, "missing id")
    problem = id_problem(text)
    if problem:
        raise RowError(field, f"the id {problem}", text)
    return text


def integer_id(text: str, field: str) -> str:
    """A numeric id (MovieLens), kept as its string."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()):
        raise RowError(field, "not an integer id", text)
    return text


def number(value: object, field: str) -> float:
    """A finite float from a number or numeric text."""
    if isinstance(value, bool):
        raise RowError(field, "not a number", value)
    try:
        result = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise RowError(field, "not a number", value) from None
    if not math.isfinite(result):
        raise RowError(field, "not a finite number", value)
    return result


def unix_time(value: object, field: str) -> datetime:
    """Unix seconds as naive UTC, the same on every machine.

    >>> unix_time("881250949", "timestamp")
    datetime.datetime(1997, 12, 4, 15, 55, 49)
    """
    if isinstance(value, bool):
        raise RowError(field, "not a unix timestamp (seconds)", value)
    try:
        seconds = value if isinstance(value, (int, float)) else int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        try:
            seconds = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise RowError(field, "not a unix timestamp (seconds)", value) from None
    try:
        result = EPOCH + timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        raise RowError(field, "unix timestamp out of range", value) from None
    return _plausible(result, field, value, unix=True)


def _plausible(ts: datetime, field: str, value: object, *, unix: bool = False) -> datetime:
    problem = timestamp_problem(ts, unix=unix)
    if problem:
        raise RowError(field, f"timestamp {problem}", value)
    return ts


def iso_time(value: object, field: str) -> datetime:
    """An ISO 8601 date or date-time; offsets (``Z``, ``+02:00``) become naive UTC.

    >>> iso_time("2021-08-23T05:26:50+02:00", "START")
    datetime.datetime(2021, 8, 23, 3, 26, 50)
    """
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, date):
        result = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            result = datetime.fromisoformat(text)
        except ValueError:
            raise RowError(field, "not an ISO 8601 date or time", value) from None
    else:
        raise RowError(field, "not an ISO 8601 date or time", value)
    if result.tzinfo is not None:
        result = result.astimezone(timezone.utc).replace(tzinfo=None)
    return _plausible(result, field, value)


TimestampFormat = Literal["unix", "iso", "auto"]


def parse_time(value: object, field: str, fmt: TimestampFormat = "auto") -> datetime:
    """``unix`` seconds, ``iso`` text, or ``auto``: numbers are unix seconds, text is ISO."""
    if fmt == "unix":
        return unix_time(value, field)
    if fmt == "iso" or isinstance(value, (datetime, date)):
        return iso_time(value, field)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return unix_time(value, field)
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        return unix_time(value, field)
    return iso_time(value, field)


def build_histories(logs: Mapping[str, list[Interaction]], *, by_time: bool) -> list[History]:
    """Histories oldest first, users in order of first appearance; a stable sort keeps the
    file order of interactions that share a timestamp (never the order of their ids)."""
    histories = []
    for user, xs in logs.items():
        if not xs:
            continue
        if by_time:
            xs = sorted(xs, key=lambda x: x.timestamp)  # type: ignore[arg-type,return-value]
        histories.append(History(user_id=user, interactions=tuple(xs)))
    return histories


def make_dataset(
    name: str,
    histories: list[History],
    catalog: Catalog,
    policy: ErrorPolicy,
    file: Path,
    *,
    domain: str,
    has_timestamps: bool,
) -> Dataset:
    """The Dataset, or an InputError when no row survived (an empty log is never useful)."""
    if not histories:
        skipped = sum(policy.skipped.values())
        raise InputError.at(f"no usable interactions ({skipped} rows skipped)", file)
    return Dataset(
        name=name,
        histories=histories,
        catalog=catalog,
        domain=domain,
        has_timestamps=has_timestamps,
        skipped=dict(policy.skipped),
    )


def rating_events(events: RatingEvents | Mapping[str, Any] | None) -> RatingEvents:
    """The ``events`` option as RatingEvents (a mapping comes from YAML or ``-O``)."""
    if isinstance(events, RatingEvents):
        return events
    try:
        return RatingEvents.model_validate(events or {})
    except ValidationError as exc:
        raise ConfigError(f"invalid option events: {exc}") from None


__all__ = [
    "EPOCH",
    "UNDECODED",
    "RowError",
    "Table",
    "TimestampFormat",
    "build_histories",
    "decode_file",
    "integer_id",
    "iso_time",
    "make_dataset",
    "number",
    "parse_time",
    "paused_gc",
    "rating_events",
    "read_table",
    "report_row",
    "require_file",
    "require_path",
    "text_id",
    "unix_time",
]
