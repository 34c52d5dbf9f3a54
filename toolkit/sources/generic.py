"""JSONL, CSV and Parquet interaction logs.

One implementation, three names (``jsonl``, ``csv``, ``parquet``): ``path`` is the log file
or a folder holding ``interactions.<ext>`` and, optionally, ``items.<ext>``. Every row goes
through the same checks (``toolkit.sources.parsing``) so that an error names the file, the
line (the 1-based row for Parquet) and the field, whatever the format.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, ClassVar

from toolkit.errors import ConfigError, InputError
from toolkit.io import parse_json
from toolkit.records import Catalog, Dataset, Interaction, Item
from toolkit.sources.base import SOURCES, ErrorPolicy, OnError, RatingEvents, Source
from toolkit.sources.parsing import (
    UNDECODED,
    RowError,
    TimestampFormat,
    build_histories,
    decode_file,
    make_dataset,
    number,
    parse_time,
    paused_gc,
    rating_events,
    read_table,
    report_row,
    require_file,
    require_path,
    text_id,
)

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
    if given is not None and not isinstance(given, Mapping):
        raise ConfigError(
            f"option {option}: expected a mapping such as {{{next(iter(defaults))}: my_column}}, "
            f"got {given!r}"
        )
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


def _require_mapped(
    given: Mapping[str, str] | None, present: set[str], file: Path, option: str = "columns"
) -> None:
    """A column the user named in ``columns`` must exist: a silently absent timestamp
    column would drop the time order without a word."""
    missing = [(k, v) for k, v in (given or {}).items() if v not in present]
    if missing:
        key, column = missing[0]
        raise InputError.at(
            f"column {column!r} (option {option}.{key}) is not in the file "
            f"(found: {', '.join(sorted(present))})",
            file,
            1,
            column,
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
            catalog = (
                self._catalog(items_file, item_cols, list_sep, policy, item_columns)
                if items_file
                else None
            )
            logs: dict[str, list[Interaction]] = {}
            opts = None
            for lineno, row in self.rows(file, policy):
                if opts is None:  # the first parsed row says which optional columns exist
                    present = set(row)
                    _require_mapped(columns, present, file)
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

    def _catalog(
        self,
        file: Path,
        cols: dict[str, str],
        sep: str,
        policy: ErrorPolicy,
        given: Mapping[str, str] | None = None,
    ) -> Catalog:
        catalog = Catalog()
        present: set[str] | None = None
        for lineno, row in self.rows(file, policy):
            if present is None:
                present = set(row)
                _require_mapped(given, present, file, "item_columns")
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
        return key if UNDECODED.search(value) else None
    if isinstance(value, dict):
        for k, v in value.items():
            if UNDECODED.search(str(k)) or _find_undecoded(v, k) is not None:
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
                row = parse_json(line, file, lineno)
            except InputError as exc:
                problem = exc.problems[0]
                policy.report(problem.message, file, lineno, problem.field)
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
    "CsvSource",
    "JsonlSource",
    "ParquetSource",
    "TabularSource",
]
