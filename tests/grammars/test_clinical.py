"""``clinical_summary``: codes are enumerations of this record's codes; the rule-based
summary validates; the renderer names each code and adds critical entries it left out."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from actions import get_domain
from grammars import get_grammar
from grammars.bounds import max_bytes
from grammars.clinical import clinical_schema
from grammars.shapes import shape_for
from toolkit.records import Catalog, History, Interaction, Item

CATALOG = Catalog(
    [
        Item(item_id="encounter:1", title="General examination", genres=("encounter",)),
        Item(item_id="condition:2", title="Asthma (disorder)", genres=("condition",)),
        Item(item_id="condition:3", title="Sinusitis (disorder)", genres=("condition",)),
        Item(item_id="medication:4", title="Albuterol inhaler", genres=("medication",)),
        Item(item_id="medication:5", title="Amoxicillin 250 MG", genres=("medication",)),
        Item(item_id="allergy:6", title="Peanut (substance)", genres=("allergy",)),
    ]
)


def record() -> History:
    t0 = datetime(2021, 5, 1, 9)
    rows = [
        ("encounter:1", "encounter", {}),
        ("condition:3", "condition", {}),
        ("medication:5", "medication", {}),
        ("encounter:1", "encounter", {}),
        ("condition:2", "condition", {"active": "yes"}),
        ("medication:4", "medication", {"active": "yes"}),
        ("allergy:6", "allergy", {}),
    ]
    return History(
        user_id="p",
        interactions=tuple(
            Interaction(timestamp=t0 + timedelta(days=i), item_id=item, event=kind, attrs=attrs)
            for i, (item, kind, attrs) in enumerate(rows)
        ),
    )


HEALTH = get_domain("healthcare")
SHAPE = shape_for("clinical_summary")
GRAMMAR = get_grammar("clinical_summary")


def test_codes_are_the_records_own():
    ctx = SHAPE.context(record(), CATALOG, HEALTH)
    props = GRAMMAR.schema(ctx)["properties"]
    assert props["active_problems"]["items"] == {"enum": ["condition:2", "condition:3"]}
    assert props["medications"]["items"] == {"enum": ["medication:4", "medication:5"]}
    issues = GRAMMAR.validate(
        json.dumps(
            {"active_problems": ["condition:99"], "medications": [], "recent_encounters": []}
        ),
        ctx,
    )
    assert [i.path for i in issues] == ["$.active_problems[0]"]


def test_every_schema_is_bounded():
    assert max_bytes(clinical_schema(), 0).bytes is not None
    assert max_bytes(clinical_schema(["condition:1"] * 3, [], ["encounter:9"]), 0).bytes < 400


def test_the_rule_based_summary_prefers_active_entries_and_validates():
    value = SHAPE.heuristic(record(), CATALOG, HEALTH)
    assert value == {
        "active_problems": ["condition:2"],
        "medications": ["medication:4"],
        "recent_encounters": [{"code": "encounter:1", "count": 2}],
    }
    ctx = SHAPE.context(record(), CATALOG, HEALTH)
    assert GRAMMAR.validate(json.dumps(value), ctx) == []


def test_the_renderer_adds_critical_entries_the_summary_left_out():
    value = {"active_problems": ["condition:3"], "medications": [], "recent_encounters": []}
    text = SHAPE.render(value, record(), CATALOG, HEALTH)
    assert text.splitlines() == [
        "Active problems: Sinusitis (disorder)",
        "From the record: 2021-05-06, Albuterol inhaler, Prescribed; "
        "2021-05-07, Peanut (substance), Allergy",
    ]
