"""E-commerce on titles only: platform, franchise and accessory derived from the title; the
rule-based plan drops accessories and merges a franchise; no line has a date."""

from __future__ import annotations

import re

from actions import execute, get_domain, program_from_codes
from actions.executor import reader
from toolkit.records import Catalog, History, Interaction, Item
from toolkit.verbalizers.heuristic import heuristic_codes

ECOM = get_domain("ecommerce")
CATALOG = Catalog(
    [
        Item(item_id="1", title="Halo 3 - Xbox 360"),
        Item(item_id="2", title="Halo: Reach - Xbox 360"),
        Item(item_id="3", title="Xbox 360 Wireless Controller - Black"),
        Item(item_id="4", title="Fire Emblem: The Sacred Stones"),
        Item(item_id="5", title="Killzone: Liberation - Playstation 3"),
    ]
)
HISTORY = History(
    user_id="u",
    interactions=tuple(Interaction(item_id=i, event="purchase") for i in "12345"),
)


def test_fields_derived_from_titles():
    read = reader(ECOM)
    assert [read(CATALOG[i], "platform") for i in "12345"] == [
        ("Xbox 360",),
        ("Xbox 360",),
        (),
        (),
        ("PlayStation 3",),
    ]
    assert [read(CATALOG[i], "franchise") for i in "1245"] == [
        ("Halo",),
        ("Halo",),
        ("Fire Emblem",),
        ("Killzone",),
    ]
    assert read(CATALOG["3"], "accessory") == ("yes",)
    assert read(CATALOG["1"], "accessory") == ()


def test_rule_based_plan_drops_accessories_and_merges_a_franchise():
    codes = heuristic_codes(HISTORY, "ecommerce", catalog=CATALOG)
    assert codes == ["franchise", "franchise", "drop", "details", "details"]
    out = execute(program_from_codes(codes, ECOM), HISTORY, CATALOG, ECOM)
    assert out.text.splitlines() == [
        "Halo (Halo 3 - Xbox 360, Halo: Reach - Xbox 360): 2 times, Bought",
        "Fire Emblem: The Sacred Stones, Bought",
        "Killzone: Liberation - Playstation 3, Bought; platform: PlayStation 3",
    ]
    assert not re.search(r"\d{4}-\d{2}-\d{2}|\d{8}", out.text)  # no clock: no dates
