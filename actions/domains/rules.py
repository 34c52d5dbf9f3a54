"""Small declarative rules a domain is made of, usable from Python and from ``domain.yaml``.

- ``Match``: which interactions a rule is about (an event, interaction attrs, item fields);
  a domain's *critical* matches are never dropped or altered by the executor, its *noise*
  matches are what the rule-based plan drops.
- ``Derived``: a catalog field computed from another one by a regular expression
  (``platform`` from an Amazon title), so enrichment and aggregation can use fields a
  source does not have.

>>> from toolkit.records import Item
>>> Derived("platform", r" - (?P<value>PC|Xbox 360)$").value(Item(item_id="1", title="Halo - PC"))
('PC',)
>>> Match(event="allergy").describe()
'event allergy'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from actions.terms import ActionError
from toolkit.records import Interaction, Item

FieldReader = Callable[[Item, str], tuple[str, ...]]
"""``(item, field) -> values``: how a rule reads an item field (the executor's reader)."""


@dataclass(frozen=True)
class Match:
    """An interaction matches when every given part does: its ``event`` (one of, when a
    tuple), each ``attrs`` value of the interaction (as text), each item ``fields`` value
    (the item has that value among its values; ``"*"``: any non-empty value)."""

    event: str | tuple[str, ...] | None = None
    attrs: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.event, list):
            object.__setattr__(self, "event", tuple(self.event))
        if self.event is None and not self.attrs and not self.fields:
            raise ActionError("a match needs an event, attrs or fields (it would match all)")

    def __hash__(self) -> int:
        return hash((self.event, tuple(self.attrs.items()), tuple(self.fields.items())))

    @property
    def events(self) -> tuple[str, ...]:
        if self.event is None:
            return ()
        return (self.event,) if isinstance(self.event, str) else tuple(self.event)

    def matches(self, x: Interaction, item: Item | None, read: FieldReader) -> bool:
        if self.event is not None and x.event not in self.events:
            return False
        for key, want in self.attrs.items():
            if str(x.attrs.get(key, "")) != str(want):
                return False
        for name, want in self.fields.items():
            values = () if item is None else read(item, name)
            if not values if want == "*" else str(want) not in values:
                return False
        return True

    def describe(self) -> str:
        parts = []
        if self.event is not None:
            parts.append(f"event {' or '.join(self.events)}")
        parts += [f"{k}={v}" for k, v in self.attrs.items()]
        parts += [f"item {k}={v}" for k, v in self.fields.items()]
        return ", ".join(parts)


@dataclass(frozen=True)
class Derived:
    """Catalog field ``name`` read from item field ``source`` by ``pattern``: the named group
    ``value`` (else the whole match; with ``constant``: that text whenever the pattern is found).
    ``aliases`` rewrite what was found (``Playstation 3`` -> ``PlayStation 3``)."""

    name: str
    pattern: str
    source: str = "title"
    constant: str | None = None
    aliases: Mapping[str, str] = field(default_factory=dict)
    ignore_case: bool = False

    def __post_init__(self) -> None:
        try:
            self.regex  # noqa: B018  (compile now: a bad pattern fails where it is defined)
        except re.error as exc:
            raise ActionError(f"derived field {self.name!r}: bad pattern ({exc})") from None

    def __hash__(self) -> int:
        return hash((self.name, self.pattern, self.source, self.constant, tuple(self.aliases)))

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern, re.IGNORECASE if self.ignore_case else 0)

    def value(self, item: Item, read: FieldReader | None = None) -> tuple[str, ...]:
        text = (
            item.title if self.source == "title" else ", ".join((read or _attr)(item, self.source))
        )
        found = self.regex.search(text or "")
        if found is None:
            return ()
        if self.constant is not None:
            return (self.constant,)
        value = found.groupdict().get("value") or found.group(0)
        value = " ".join(value.split())
        value = self.aliases.get(value, value)
        return (value,) if value else ()


def _attr(item: Item, name: str) -> tuple[str, ...]:
    value = item.attrs.get(name)
    return () if value is None else (str(value),)
