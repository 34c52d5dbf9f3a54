"""E-commerce (purchases, views): product fields live in ``Item.attrs`` (category, price,
brand) when a source knows them; LLMRank Amazon histories carry titles only, so the
domain derives ``platform`` (the `` - Xbox 360`` suffix), ``franchise`` (the words before
a colon, dash, bracket or number) and ``accessory`` (cases, controllers, cables...) from the
title. Purchases carry no dates there: nothing here invents one.
"""

from __future__ import annotations

from actions.domains.base import DOMAINS, Domain
from actions.domains.rules import Derived, Match
from actions.terms import TERMS, Aggregate, Drop, Enrich, Keep

PLATFORMS = (
    "PC",
    "Mac",
    "Xbox 360",
    "Xbox One",
    "Xbox",
    "PlayStation 4",
    "PlayStation 3",
    "Playstation 3",
    "PlayStation 2",
    "PlayStation Vita",
    "PlayStation",
    "Sony PSP",
    "Nintendo 3DS",
    "Nintendo DS",
    "Nintendo Wii U",
    "Wii U",
    "Nintendo Wii",
    "Nintendo Switch",
    "Gamecube",
    "Game Boy Advance",
    "Nintendo 64",
    "Nintendo NES",
    "Nintendo Super NES",
    "Sega Genesis",
)
ACCESSORY_WORDS = (
    "case",
    "controller",
    "cable",
    "charger",
    "charging",
    "headset",
    "adapter",
    "battery",
    "skin",
    "stand",
    "memory card",
    "protector",
    "stylus",
    "remote",
    "steering wheel",
    "mouse",
    "keyboard",
    "console",
    "subscription",
    "gift card",
    "points card",
)

ECOMMERCE = Domain(
    name="ecommerce",
    codes={
        "keep": (Keep(),),
        "drop": (Drop(),),
        "details": (Keep(), Enrich(("platform", "category", "price"))),
        "franchise": (Aggregate("franchise"),),
        "platform": (Aggregate("platform"),),
    },
    enrich_fields=("category", "price", "brand", "genres", "tags", "description", "platform"),
    aggregate_keys=("item", "category", "brand", "franchise", "platform"),
    terms=TERMS,
    default_code="keep",
    events={"purchase": "Bought", "view": "Viewed", "add_to_cart": "Added to cart"},
    derived=(
        Derived(
            "platform",
            r" - (?P<value>" + "|".join(PLATFORMS) + r")\b",
            aliases={"Playstation 3": "PlayStation 3", "Wii U": "Nintendo Wii U"},
        ),
        Derived(
            "franchise",
            r"^(?P<value>[^:(\-,\d]+?)(?=\s*(?::|\(|,| - |\s\d|\s(?:I{1,3}|IV|V)\b|$))",
        ),
        Derived(
            "accessory",
            r"\b(?:" + "|".join(ACCESSORY_WORDS) + r")s?\b",
            constant="yes",
            ignore_case=True,
        ),
    ),
    noise=(Match(fields={"accessory": "yes"}),),
    aspect_fields=("franchise", "platform", "genres"),
    description="Product purchases (Amazon video games: ordered, titles only, no dates)",
)

DOMAINS.add("ecommerce", ECOMMERCE)
