"""Run an action program over a history: one pure, deterministic function, ``execute``.

Line formats (shorter than the template row: no ID, no weekday or hour, whole minutes):

- ``Keep``: ``2024-03-02, Breaking Bad (2008) S1E3, Play, 47 min`` — the date is left out
  when the source has no clock, the episode when the interaction has no ``episode`` attr,
  the duration when unknown (``<1 min`` under a minute, ``1 h 5 min`` from an hour).
- ``Enrich(fields)``: appends ``; genres: Crime, Drama`` per field the item has a value for
  (strings longer than 100 characters are cut at a word with ``...``).
- ``Annotate(text)``: appends `` [text]``.
- ``Aggregate(by)``: one line for a maximal run of consecutive aggregated interactions with
  the same key and ``by``, drops in between ignored:
  ``Breaking Bad (2008): 5 episodes S1E2-S1E6, Play, 3 h 10 min, last 2024-03-02``
  (``3 times`` when no interaction has an episode; a run over several items is headed by
  the key's value and up to three titles: ``Action (Zelda, Mario, Halo, +2 more)``).
  Modifiers of every step of the run apply once to the merged line.

Keys: ``item`` is the item id; ``series`` is ``Item.attrs["series"]`` or else the item id
(a series is usually one item whose episodes are interactions); any other key is the item's
field of that name (or the domain's derived field). An item without a value for the key
never merges.

The domain's wording names events (``Bought`` for ``purchase``), and its *critical*
interactions (an allergy, an active medication) run as a plain ``Keep`` whatever the plan
says: never dropped, merged, enriched or annotated; ``meta["critical"]`` lists them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from actions.domains.base import Domain, get_domain
from actions.program import check_program
from actions.terms import TERMS, Aggregate, Annotate, Drop, Enrich, Keep, Step
from toolkit.records import Catalog, History, Interaction, Item
from toolkit.verbalizers.base import TokenCounter, Verbalization, count_tokens
from toolkit.verbalizers.template import render_template

MAX_FIELD_CHARS = 100
_ITEM_FIELDS = ("title", "year", "genres", "tags", "description")


def execute(
    program: Sequence[Step],
    history: History,
    catalog: Catalog,
    domain: Domain | str = "streaming",
    *,
    tokenizer: TokenCounter | None = None,
) -> Verbalization:
    """The text ``program`` makes of ``history``, with its cost and what each term did.

    Raises ``TypeError`` for an object that is not a known term and ``ActionError`` listing
    every other problem (wrong length, a term, field or key the domain does not allow).
    """
    _reject_unknown_terms(program)
    domain = get_domain(domain)
    program = check_program(program, domain, n=len(history))
    read = reader(domain)
    critical = critical_indices(history, catalog, domain)
    program = tuple((Keep(),) if i in critical else step for i, step in enumerate(program))
    lines: list[str] = []
    stats = _Stats()
    for run in _runs(program, history.interactions, catalog, read):
        lines.append(_render_run(run, catalog, stats, domain, read))
    text = "\n".join(lines)
    template = render_template(history, catalog)
    dropped = [i for i, step in enumerate(program) if isinstance(_base(step), Drop)]
    meta: dict[str, Any] = {
        "kept": [i for i, step in enumerate(program) if not isinstance(_base(step), Drop)],
        "dropped": dropped,
        "lines": len(lines),
        "aggregated_runs": sum(1 for r in stats.runs if len(r) > 1),
        "runs": stats.runs,
        "enriched_fields": dict(stats.enriched),
        "annotations": stats.annotations,
        "critical": sorted(critical),
    }
    return Verbalization(
        text=text,
        chars=len(text),
        tokens=count_tokens(text, tokenizer),
        template_chars=len(template),
        template_tokens=count_tokens(template, tokenizer),
        meta=meta,
    )


def _reject_unknown_terms(program: Sequence[Step]) -> None:
    if isinstance(program, (str, bytes)) or not isinstance(program, Sequence):
        return  # check_program names it
    for step in program:
        for term in step if isinstance(step, tuple) else ():
            if type(term) not in TERMS:
                known = ", ".join(t.__name__ for t in TERMS)
                raise TypeError(
                    f"unknown action term {term!r} ({type(term).__name__}); known terms: {known}"
                )


@dataclass
class _Stats:
    runs: list[list[int]] = field(default_factory=list)
    enriched: dict[str, int] = field(default_factory=dict)
    annotations: int = 0


@dataclass
class _Run:
    """Consecutive kept interactions that become one line: one ``Keep`` or an aggregate run."""

    base: Keep | Aggregate
    key: str | None
    indices: list[int]
    interactions: list[Interaction]
    steps: list[Step]


def reader(domain: Domain) -> Callable[[Item, str], tuple[str, ...]]:
    """``(item, field) -> values`` in ``domain``: its derived fields, else ``field_values``."""

    def read(item: Item, name: str) -> tuple[str, ...]:
        derived = domain.derived_field(name)
        if derived is not None:
            return derived.value(item, field_values)
        return field_values(item, name)

    return read


def critical_indices(history: History, catalog: Catalog, domain: Domain) -> set[int]:
    """Positions of the interactions that match one of the domain's critical rules."""
    if not domain.critical:
        return set()
    read = reader(domain)
    return {
        i
        for i, x in enumerate(history.interactions)
        if any(rule.matches(x, catalog.get(x.item_id), read) for rule in domain.critical)
    }


def group_keys(step: Step, history: History, catalog: Catalog, domain: Domain) -> list[str | None]:
    """The key each interaction would merge on under ``step``'s ``Aggregate`` (None: never)."""
    base = _base(step)
    if not isinstance(base, Aggregate):
        raise TypeError(f"step {step!r} has no Aggregate term")
    read = reader(domain)
    return [_key(x, catalog.get(x.item_id), base.by, read) for x in history.interactions]


def _runs(
    program: Sequence[Step],
    interactions: Sequence[Interaction],
    catalog: Catalog,
    read: Callable[[Item, str], tuple[str, ...]],
) -> Iterator[_Run]:
    current: _Run | None = None
    for i, (step, x) in enumerate(zip(program, interactions, strict=True)):
        base = _base(step)
        if isinstance(base, Drop):
            continue
        if isinstance(base, Aggregate):
            key = _key(x, catalog.get(x.item_id), base.by, read)
            if (
                current is not None
                and current.base == base
                and key is not None
                and current.key == key
            ):
                current.indices.append(i)
                current.interactions.append(x)
                current.steps.append(step)
                continue
        else:
            key = None
        if current is not None:
            yield current
        current = _Run(base, key, [i], [x], [step])
    if current is not None:
        yield current


def _base(step: Step) -> Keep | Drop | Aggregate:
    return next(t for t in step if t.base)  # type: ignore[return-value]


def _key(
    x: Interaction, item: Item | None, by: str, read: Callable[[Item, str], tuple[str, ...]]
) -> str | None:
    if by == "item":
        return x.item_id
    if by == "series":
        series = None if item is None else read(item, "series")
        return series[0] if series else x.item_id
    values = () if item is None else read(item, by)
    return ", ".join(values) if values else None


def _render_run(
    run: _Run,
    catalog: Catalog,
    stats: _Stats,
    domain: Domain,
    read: Callable[[Item, str], tuple[str, ...]],
) -> str:
    items = [catalog.get(x.item_id) for x in run.interactions]
    if isinstance(run.base, Keep):
        line = keep_line(run.interactions[0], items[0], domain)
    elif isinstance(run.base, Aggregate):
        stats.runs.append(list(run.indices))
        line = _aggregate_line(run, items, domain)
    else:
        raise TypeError(f"cannot render a line from base term {run.base!r}")
    fields: list[str] = []
    notes: list[str] = []
    for step in run.steps:
        for term in step:
            if isinstance(term, Enrich):
                fields += [f for f in term.fields if f not in fields]
            elif isinstance(term, Annotate):
                if term.text not in notes:
                    notes.append(term.text)
            elif not isinstance(term, (Keep, Aggregate)):
                raise TypeError(f"cannot apply term {term!r} to a line")
    distinct = list(
        {x.item_id: item for x, item in zip(run.interactions, items, strict=True)}.values()
    )
    for name in fields:
        values = _merged(distinct, name, read)
        if values:
            line += f"; {name}: {', '.join(values)}"
            stats.enriched[name] = stats.enriched.get(name, 0) + 1
    for note in notes:
        line += f" [{note}]"
    stats.annotations += len(notes)
    return line


def keep_line(x: Interaction, item: Item | None, domain: Domain) -> str:
    """The line ``Keep`` writes for ``x`` (what a critical interaction always shows)."""
    title = _title(x, item)
    episode = episode_label(x)
    parts = [f"{title} {episode}" if episode else title, domain.wording(x.event)]
    if x.timestamp is not None:
        parts.insert(0, x.timestamp.date().isoformat())
    if x.duration is not None and math.isfinite(x.duration):
        parts.append(minutes(x.duration))
    return ", ".join(parts)


def _aggregate_line(run: _Run, items: list[Item | None], domain: Domain) -> str:
    xs = run.interactions
    titles = list(dict.fromkeys(_title(x, item) for x, item in zip(xs, items, strict=True)))
    if len(titles) == 1:
        head = titles[0]
    else:
        more = f", +{len(titles) - 3} more" if len(titles) > 3 else ""
        head = f"{run.key} ({', '.join(titles[:3])}{more})"
    episodes = [e for e in (episode_label(x) for x in xs) if e]
    n = len(xs)
    noun = ("episode" if episodes else "time") + ("" if n == 1 else "s")
    first = f"{head}: {n} {noun}"
    if episodes:
        first += (
            f" {episodes[0]}" if episodes[0] == episodes[-1] else f" {episodes[0]}-{episodes[-1]}"
        )
    parts = [first, "/".join(dict.fromkeys(domain.wording(x.event) for x in xs))]
    durations = [x.duration for x in xs if x.duration is not None and math.isfinite(x.duration)]
    if durations:
        parts.append(minutes(sum(durations)))
    stamps = [x.timestamp for x in xs if x.timestamp is not None]
    if stamps:
        parts.append(f"last {max(stamps).date().isoformat()}")
    return ", ".join(parts)


def _title(x: Interaction, item: Item | None) -> str:
    return _clean(item.display_title) if item is not None else f"Unknown item {x.item_id}"


def episode_label(x: Interaction) -> str:
    """``S1E3`` from the ``season``/``episode`` attrs (``E3`` without a season), else ``''``.

    >>> episode_label(Interaction(item_id="7", event="play", attrs={"season": 1, "episode": 3}))
    'S1E3'
    """
    episode = _scalar(x.attrs.get("episode"))
    if not episode:
        return ""
    season = _scalar(x.attrs.get("season"))
    return f"S{season}E{episode}" if season else f"E{episode}"


def minutes(duration: float) -> str:
    """A duration in minutes, rounded to the minute.

    >>> [minutes(d) for d in (0.4, 47.5, 60, 190.2)]
    ['<1 min', '48 min', '1 h', '3 h 10 min']
    """
    if duration < 1:
        return "<1 min"
    hours, mins = divmod(int(duration + 0.5), 60)
    if not hours:
        return f"{mins} min"
    return f"{hours} h" if not mins else f"{hours} h {mins} min"


def field_values(item: Item, name: str) -> tuple[str, ...]:
    """The item's ``name`` field (a core field or an ``attrs`` entry) as short strings;
    empty when it has none.

    >>> field_values(Item(item_id="1", title="T", genres=("Drama",), attrs={"price": 9.5}), "price")
    ('9.5',)
    """
    value = getattr(item, name) if name in _ITEM_FIELDS else item.attrs.get(name)
    if isinstance(value, (set, frozenset)):
        value = sorted(value, key=str)
    values = value if isinstance(value, (list, tuple)) else (value,)
    out = (_scalar(v) for v in values)
    return tuple(dict.fromkeys(v for v in out if v))


def _merged(
    items: list[Item | None], name: str, read: Callable[[Item, str], tuple[str, ...]]
) -> list[str]:
    values: dict[str, None] = {}
    for item in items:
        if item is not None:
            values.update(dict.fromkeys(read(item, name)))
    return list(values)


def _scalar(value: object) -> str:
    if value is None or isinstance(value, (dict, list, tuple, set)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return _clean(str(value))


def _clean(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= MAX_FIELD_CHARS:
        return text
    cut = text[: MAX_FIELD_CHARS - 3]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut) + "..."
