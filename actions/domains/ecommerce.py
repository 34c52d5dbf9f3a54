"""E-commerce (purchases, views): product fields live in ``Item.attrs`` (category, price,
brand) when a source knows them; LLMRank Amazon histories carry titles only."""

from __future__ import annotations

from actions.domains.base import DOMAINS, Domain
from actions.terms import TERMS, Aggregate, Annotate, Drop, Enrich, Keep

ECOMMERCE = Domain(
    name="ecommerce",
    codes={
        "keep": (Keep(),),
        "drop": (Drop(),),
        "details": (Keep(), Enrich(("category", "price"))),
        "repeat": (Aggregate("item"),),
        "liked": (Keep(), Annotate("liked")),
    },
    enrich_fields=("category", "price", "brand", "genres", "tags", "description"),
    aggregate_keys=("item", "category", "brand"),
    terms=TERMS,
    default_code="keep",
)

DOMAINS.add("ecommerce", ECOMMERCE)
