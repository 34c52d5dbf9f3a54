"""JSONL, CSV and Parquet interaction logs, and the row helpers every text reader shares.

One implementation, three names (``jsonl``, ``csv``, ``parquet``): ``path`` is the log file
or a folder holding ``interactions.<ext>`` and, optionally, ``items.<ext>``. Every row goes
through the same checks so that an error names the file, the line (the 1-based row for
Parquet) and the field, whatever the format.

The helpers above the readers (``read_table``, ``unix_time``, ``iso_time``,
``build_histories``...) are what the MovieLens, LLMRank and Synthea readers are made of.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import json
import math
import re
from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import ValidationError

from toolkit.errors import ConfigError, InputError
from toolkit.records import Catalog, Dataset, History, Interaction, Item
from toolkit.sources.base import SOURCES, ErrorPolicy, OnError, RatingEvents, Source

EPOCH = datetime(1970, 1, 1)
_UNDECODED = re.compile("[\udc80-\udcff]")  # what surrogateescape leaves for bad bytes
_NUMBER = re.compile(r"\s*-?\d+(\.\d*)?\s*")
_NO_VALUE = object()

# ---------------------------------------------------------------- row helpers (shared)


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


def _split_rows(text: str, sep: str, quoted: bool) -> Iterator[tuple[int, list[str]]]:
    if quoted:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
        start = 1
        for fields in reader:
            if any(f.strip() for f in fields):
                yield start, fields
            start = reader.line_num + 1
        return
    for lineno, line in enumerate(text.split("\n"), 1):
        if line.strip():
            yield lineno, line.rstrip("\r").split(sep)


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
        header = [h.strip() for h in header]
        if not clean and any(_UNDECODED.search(h) for h in header):
            raise InputError.at(f"the header holds bytes that are not {encoding}", path, 1)
        dupes = sorted({h for h in header if header.count(h) > 1})
        if dupes:
            raise InputError.at("duplicate column in the header", path, header_line, dupes[0])
        columns = header
    return Table(path, list(columns), _checked(path, rows, list(columns), clean, encoding, policy))


def _checked(
    path: Path,
    rows: Iterator[tuple[int, list[str]]],
    columns: list[str],
    clean: bool,
    encoding: str,
    policy: ErrorPolicy,
) -> Iterator[tuple[int, list[str]]]:
    n, seen = len(columns), False
    for lineno, fields in rows:
        seen = True
        if len(fields) != n:
            field = columns[len(fields)] if len(fields) < n else f"#{n + 1} (extra)"
            msg = f"expected {n} fields ({', '.join(columns)}), found {len(fields)}"
            policy.report(msg, path, lineno, field)
            continue
        if not clean:
            bad = next(
                (c for c, f in zip(columns, fields, strict=True) if _UNDECODED.search(f)), None
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
        return EPOCH + timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        raise RowError(field, "unix timestamp out of range", value) from None


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
    return result


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


# ---------------------------------------------------------------- generic readers

COLUMNS = {
    "user": "user_id",
    "item": "item_id",
    "timestamp": "timestamp",
    "event": "event",
    "duration": "duration",
    "rating": "rating",
}
ITEM_COLUMNS = {
    "item_id": "item_id",
    "title": "title",
    "year": "year",
    "genres": "genres",
    "tags": "tags",
    "description": "description",
}

Rows = Iterator[tuple[int, dict[str, Any]]]


def _mapping(
    given: Mapping[str, str] | None, defaults: dict[str, str], option: str
) -> dict[str, str]:
    unknown = sorted(set(given or {}) - set(defaults))
    if unknown:
        raise ConfigError(
            f"option {option}: unknown key(s) {', '.join(unknown)}; known: {', '.join(defaults)}"
        )
    return {**defaults, **(given or {})}


def _empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: object, field: str) -> str:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value).strip()
    raise RowError(field, "expected text", value)


def _string_list(value: object, field: str, sep: str) -> tuple[str, ...]:
    if _empty(value):
        return ()
    if isinstance(value, str):
        parts: Sequence[object] = value.split(sep)
    elif isinstance(value, (list, tuple)):
        parts = value
    else:
        raise RowError(field, f"expected a list or {sep!r}-separated text", value)
    return tuple(dict.fromkeys(_text(p, field) for p in parts if not _empty(p)))


def _plain(value: object) -> object:
    """A JSON-friendly attrs value (Parquet hands back datetimes and the like)."""
    return value.isoformat() if isinstance(value, (datetime, date)) else value


@dataclass
class _Options:
    cols: dict[str, str]
    fmt: TimestampFormat
    events: RatingEvents
    default_event: str
    present: set[str]
    catalog: Catalog | None
    items_file: Path | None

    def __post_init__(self) -> None:
        self.mapped = set(self.cols.values())


def _interaction(row: dict[str, Any], opts: _Options) -> tuple[str, Interaction]:
    cols, present = opts.cols, opts.present
    user = text_id(row.get(cols["user"]), cols["user"])
    item = text_id(row.get(cols["item"]), cols["item"])
    if opts.catalog is not None and item not in opts.catalog:
        where = opts.items_file.name if opts.items_file else "the items file"
        raise RowError(cols["item"], f"item is not in the catalog ({where})", item)
    timestamp = None
    if cols["timestamp"] in present:
        raw = row.get(cols["timestamp"])
        if _empty(raw):
            raise RowError(cols["timestamp"], "missing timestamp")
        timestamp = parse_time(raw, cols["timestamp"], opts.fmt)
    rating = None
    if cols["rating"] in present and not _empty(row.get(cols["rating"])):
        rating = number(row[cols["rating"]], cols["rating"])
    if cols["event"] in present:
        raw = row.get(cols["event"])
        if _empty(raw):
            raise RowError(cols["event"], "missing event")
        event = _text(raw, cols["event"])
    elif rating is not None:
        event = opts.events.event(rating)
    else:
        event = opts.default_event
    duration = None
    if cols["duration"] in present and not _empty(row.get(cols["duration"])):
        duration = number(row[cols["duration"]], cols["duration"])
        if duration < 0:
            raise RowError(cols["duration"], "negative duration", duration)
    attrs = {k: _plain(v) for k, v in row.items() if k not in opts.mapped and not _empty(v)}
    nested = attrs.pop("attrs", None)
    if isinstance(nested, dict):
        attrs = {**nested, **attrs}
    elif nested is not None:
        attrs["attrs"] = nested
    if rating is not None:
        attrs["rating"] = rating
    x = Interaction(timestamp=timestamp, item_id=item, event=event, duration=duration, attrs=attrs)
    return user, x


def _item(row: dict[str, Any], cols: dict[str, str], present: set[str], sep: str) -> Item:
    item_id = text_id(row.get(cols["item_id"]), cols["item_id"])
    title = item_id
    if cols["title"] in present:
        if _empty(row.get(cols["title"])):
            raise RowError(cols["title"], "missing title")
        title = _text(row[cols["title"]], cols["title"])
    year = None
    raw = row.get(cols["year"])
    if not _empty(raw) and not (isinstance(raw, float) and math.isnan(raw)):
        value = number(raw, cols["year"])
        if value != int(value):
            raise RowError(cols["year"], "a year must be a whole number", raw)
        year = int(value)
    description = row.get(cols["description"])
    mapped = set(cols.values())
    return Item(
        item_id=item_id,
        title=title,
        year=year,
        genres=_string_list(row.get(cols["genres"]), cols["genres"], sep),
        tags=_string_list(row.get(cols["tags"]), cols["tags"], sep),
        description=None if _empty(description) else _text(description, cols["description"]),
        attrs={k: _plain(v) for k, v in row.items() if k not in mapped and not _empty(v)},
    )


class TabularSource(Source):
    """Interaction logs in a table format; subclasses only say how to get rows out of a file."""

    ext: ClassVar[str]

    @abstractmethod
    def rows(self, file: Path, policy: ErrorPolicy) -> Rows:
        """``(line, row)`` pairs; rows that cannot be parsed at all are reported, not yielded."""

    def read(  # type: ignore[override]
        self,
        path: str | Path | None,
        *,
        on_error: OnError = "raise",
        columns: Mapping[str, str] | None = None,
        item_columns: Mapping[str, str] | None = None,
        timestamp_format: TimestampFormat = "auto",
        list_sep: str = "|",
        events: RatingEvents | Mapping[str, Any] | None = None,
        default_event: str = "interaction",
        items: str | Path | None = None,
        domain: str = "streaming",
        name: str | None = None,
    ) -> Dataset:
        """Read ``path`` (a log file, or a folder with ``interactions.<ext>`` [+ ``items``]).

        ``columns``/``item_columns`` rename the expected columns; ``events`` turns a rating
        into an event when there is no event column (else ``default_event``); ``items``
        points at an item file elsewhere. Columns not named are kept in ``attrs``.
        """
        path = require_path(path, self.name)
        if timestamp_format not in ("unix", "iso", "auto"):
            raise ConfigError(f"timestamp_format must be unix, iso or auto: {timestamp_format!r}")
        cols = _mapping(columns, COLUMNS, "columns")
        item_cols = _mapping(item_columns, ITEM_COLUMNS, "item_columns")
        rating_map = rating_events(events)
        policy = ErrorPolicy(on_error)
        if path.is_dir():
            file = require_file(path / f"interactions.{self.ext}", f"the {self.name} log")
            items_file = Path(items) if items else path / f"items.{self.ext}"
            if not items_file.is_file():
                items_file = require_file(items_file, "items") if items else None
        else:
            file = path
            items_file = require_file(Path(items), "items") if items else None
        with paused_gc():
            catalog = self._catalog(items_file, item_cols, list_sep, policy) if items_file else None
            logs: dict[str, list[Interaction]] = {}
            opts = None
            for lineno, row in self.rows(file, policy):
                if opts is None:  # the first parsed row says which optional columns exist
                    present = set(row)
                    opts = _Options(
                        cols,
                        timestamp_format,
                        rating_map,
                        default_event,
                        present,
                        catalog,
                        items_file,
                    )
                try:
                    user, x = _interaction(row, opts)
                except RowError as exc:
                    report_row(policy, file, lineno, exc)
                    continue
                logs.setdefault(user, []).append(x)
            has_timestamps = opts is not None and cols["timestamp"] in opts.present
            if catalog is None:
                catalog = Catalog(
                    Item(item_id=i, title=i)
                    for i in dict.fromkeys(x.item_id for xs in logs.values() for x in xs)
                )
            histories = build_histories(logs, by_time=has_timestamps)
        return make_dataset(
            name or self.name,
            histories,
            catalog,
            policy,
            file,
            domain=domain,
            has_timestamps=has_timestamps,
        )

    def _catalog(self, file: Path, cols: dict[str, str], sep: str, policy: ErrorPolicy) -> Catalog:
        catalog = Catalog()
        present: set[str] | None = None
        for lineno, row in self.rows(file, policy):
            present = set(row) if present is None else present
            try:
                item = _item(row, cols, present, sep)
                if item.item_id in catalog:
                    raise RowError(cols["item_id"], "duplicate item id", item.item_id)
            except RowError as exc:
                report_row(policy, file, lineno, exc)
                continue
            catalog.add(item)
        return catalog


def _find_undecoded(value: object, key: str | None = None) -> str | None:
    """The key whose (possibly nested) value holds undecodable bytes, or None."""
    if isinstance(value, str):
        return key if _UNDECODED.search(value) else None
    if isinstance(value, dict):
        for k, v in value.items():
            if _UNDECODED.search(str(k)) or _find_undecoded(v, k) is not None:
                return key or str(k)
    if isinstance(value, list):
        for v in value:
            if _find_undecoded(v, key) is not None:
                return key or "row"
    return None


@SOURCES.register("jsonl")
class JsonlSource(TabularSource):
    """JSON Lines: one object per line (``interactions.jsonl`` [+ ``items.jsonl``])."""

    name = "jsonl"
    ext = "jsonl"

    def rows(self, file: Path, policy: ErrorPolicy) -> Rows:
        text, clean = decode_file(require_file(file, "a JSON Lines file"))
        for lineno, line in enumerate(text.split("\n"), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                policy.report(f"invalid JSON ({exc.msg} at column {exc.colno})", file, lineno, None)
                continue
            if not isinstance(row, dict):
                policy.report("expected a JSON object", file, lineno, None)
                continue
            if not clean and (bad := _find_undecoded(row)) is not None:
                policy.report("bytes that are not valid utf-8", file, lineno, bad)
                continue
            yield lineno, row


@SOURCES.register("csv")
class CsvSource(TabularSource):
    """CSV with a header row (``interactions.csv`` [+ ``items.csv``]); lists split on ``|``."""

    name = "csv"
    ext = "csv"

    def rows(self, file: Path, policy: ErrorPolicy) -> Rows:
        table = read_table(require_file(file, "a CSV file"), policy, quoted=True)
        columns = table.columns
        for lineno, fields in table.rows:
            yield lineno, dict(zip(columns, fields, strict=True))


@SOURCES.register("parquet")
class ParquetSource(TabularSource):
    """Parquet (``interactions.parquet`` [+ ``items.parquet``]); "line" means the 1-based row."""

    name = "parquet"
    ext = "parquet"

    def rows(self, file: Path, policy: ErrorPolicy) -> Rows:
        import pyarrow as pa
        import pyarrow.parquet as pq

        require_file(file, "a Parquet file")
        try:
            table = pq.read_table(file)
        except (pa.ArrowException, OSError) as exc:
            raise InputError.at(f"not a readable Parquet file ({exc})", file) from None
        if table.num_rows == 0:
            raise InputError.at("the file has no rows", file)
        yield from enumerate(map(_no_nan, table.to_pylist()), 1)


def _no_nan(row: dict[str, Any]) -> dict[str, Any]:
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}


__all__ = [
    "EPOCH",
    "CsvSource",
    "JsonlSource",
    "ParquetSource",
    "RowError",
    "Table",
    "TabularSource",
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
