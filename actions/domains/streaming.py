"""Streaming (movies, series): drop previews and abandoned plays, merge binge runs.

A series is one catalog item and its episodes are interactions with ``season``/``episode``
attrs; an item may also name its series in ``attrs["series"]`` (episodes as items).
"""

from __future__ import annotations

from actions.domains.base import DOMAINS, Domain
from actions.terms import TERMS, Aggregate, Annotate, Drop, Enrich, Keep

STREAMING = Domain(
    name="streaming",
    codes={
        "keep": (Keep(),),
        "drop": (Drop(),),
        "enrich": (Keep(), Enrich(("genres",))),
        "tags": (Keep(), Enrich(("tags",))),
        "series": (Aggregate("series"),),
        "liked": (Keep(), Annotate("liked")),
    },
    enrich_fields=("genres", "year", "tags", "description"),
    aggregate_keys=("item", "series"),
    terms=TERMS,
    default_code="keep",
    description="Streaming viewing logs (movies, series): previews, abandoned plays, binges",
)

DOMAINS.add("streaming", STREAMING)
