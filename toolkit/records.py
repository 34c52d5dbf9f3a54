"""The records every part of vtk speaks: interactions, items, catalogs and histories.

Timestamps are timezone-naive ``datetime`` in UTC (readers convert unix seconds and ISO
strings) or ``None`` when the source has no clock (LLMRank Amazon); durations are minutes.
Task files pad ``attrs`` with ``None`` so every row has one Arrow schema; ``from_json``
drops those padding values again. ``attrs`` carries whatever
else a source knows (rating, device, the synthetic generator's ``signal`` flag, codes).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

EARLIEST = datetime(1900, 1, 1)
"""The earliest timestamp a reader accepts (older dates are typos or sentinels)."""
FUTURE_SLACK = timedelta(days=1)
"""How far past now a timestamp may lie (clock skew, time zones) before it is refused."""
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def timestamp_problem(ts: datetime, *, unix: bool = False) -> str | None:
    """Why ``ts`` (naive UTC) cannot be a real event time, or None when it can.

    Unix seconds below 0 (before 1970) are refused as sentinels (``-1``); any time before
    ``EARLIEST`` or more than ``FUTURE_SLACK`` after now is refused: a 2100 date would
    otherwise become a user's last, test-target interaction.


    >>> timestamp_problem(datetime(2100, 1, 1))  # doctest: +ELLIPSIS
    'in the future (after ...)'
    """
    if unix and ts < datetime(1970, 1, 1):
        return "a negative unix timestamp (before 1970)"
    if ts < EARLIEST:
        return f"before {EARLIEST.year}"
    latest = datetime.now(timezone.utc).replace(tzinfo=None) + FUTURE_SLACK
    if ts > latest:
        return f"in the future (after {latest:%Y-%m-%d})"
    return None


def id_problem(text: str) -> str | None:
    """Why ``text`` cannot be an id (a NUL or other control character), or None."""
    match = _CONTROL.search(text)
    if match:
        return f"holds a control character ({match.group()!r}) at position {match.start()}"
    return None


class Interaction(BaseModel):
    """One event of one user on one item."""

    model_config = ConfigDict(frozen=True)

    timestamp: datetime | None = None
    item_id: str
    event: str
    duration: float | None = None
    attrs: dict[str, Any] = Field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "timestamp": None if self.timestamp is None else self.timestamp.isoformat(),
            "item_id": self.item_id,
            "event": self.event,
            "duration": self.duration,
            "attrs": self.attrs,
        }

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Interaction:
        ts = row.get("timestamp")
        return cls.model_construct(
            timestamp=datetime.fromisoformat(ts) if isinstance(ts, str) else ts,
            item_id=str(row["item_id"]),
            event=row["event"],
            duration=row.get("duration"),
            attrs={k: v for k, v in (row.get("attrs") or {}).items() if v is not None},
        )


class Item(BaseModel):
    """A catalog entry; ``attrs`` holds domain fields (series, episode, codes, price...)."""

    model_config = ConfigDict(frozen=True)

    item_id: str
    title: str
    year: int | None = None
    genres: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    description: str | None = None
    attrs: dict[str, Any] = Field(default_factory=dict)

    @property
    def display_title(self) -> str:
        """Title with its year, as the paper's template prints it: ``Kolya (1996)``."""
        return f"{self.title} ({self.year})" if self.year is not None else self.title

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Item:
        return cls.model_validate(row)


class Catalog:
    """Items by id. Lookups of unknown ids raise KeyError naming the id."""

    def __init__(self, items: Iterable[Item] = ()):
        self._items: dict[str, Item] = {}
        for item in items:
            self._items[item.item_id] = item

    def add(self, item: Item) -> None:
        self._items[item.item_id] = item

    def __getitem__(self, item_id: str) -> Item:
        try:
            return self._items[item_id]
        except KeyError:
            raise KeyError(f"item {item_id!r} is not in the catalog") from None

    def get(self, item_id: str, default: Item | None = None) -> Item | None:
        return self._items.get(item_id, default)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self._items.values())

    def ids(self) -> list[str]:
        return list(self._items)


class History(BaseModel):
    """A user's interactions, oldest first."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    interactions: tuple[Interaction, ...] = ()

    def __len__(self) -> int:
        return len(self.interactions)

    def item_ids(self) -> list[str]:
        return [x.item_id for x in self.interactions]

    def last(self, n: int) -> History:
        """The ``n`` most recent interactions (n <= 0 gives an empty history)."""
        return History.model_construct(
            user_id=self.user_id, interactions=self.interactions[-n:] if n > 0 else ()
        )


class Dataset(BaseModel):
    """What a source reads: histories (oldest first) and the catalog they refer to."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str
    histories: list[History]
    catalog: Catalog
    domain: str = "streaming"
    has_timestamps: bool = True
    skipped: dict[str, int] = Field(default_factory=dict)
    """Rows skipped under ``on_error='skip'``, counted by reason."""
