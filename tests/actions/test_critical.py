"""Critical interactions (healthcare: allergies, active medications) survive every plan.

For random patient histories and random plans of the healthcare codes, each critical
interaction appears in the executor's text as its own plain line, exactly as ``Keep``
writes it, in record order; it is never dropped, merged, enriched or annotated.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actions import Domain, Keep, execute, get_domain, program_from_codes
from actions.domains import Match
from actions.executor import critical_indices, keep_line
from toolkit.records import Catalog, History, Interaction, Item

KINDS = ("encounter", "condition", "medication", "procedure", "allergy")
CATALOG = Catalog(
    Item(
        item_id=f"{kind}:{code}",
        title=f"{kind.title()} {code} (finding)",
        genres=(kind,),
        attrs={"code": str(code), "system": "SNOMED-CT", "kind": kind},
    )
    for kind in KINDS
    for code in range(3)
)
HEALTHCARE = get_domain("healthcare")

records = st.builds(
    lambda kind, code, hours, active: Interaction(
        timestamp=datetime(2020, 1, 1) + timedelta(hours=hours),
        item_id=f"{kind}:{code}",
        event=kind,
        attrs={"active": "yes"} if active else {},
    ),
    st.sampled_from(KINDS),
    st.integers(0, 2),
    st.integers(0, 5000),
    st.booleans(),
)


@st.composite
def cases(draw):
    xs = sorted(draw(st.lists(records, max_size=14)), key=lambda x: x.timestamp)
    history = History(user_id="p", interactions=tuple(xs))
    codes = draw(
        st.lists(st.sampled_from(list(HEALTHCARE.codes)), min_size=len(xs), max_size=len(xs))
    )
    return history, codes


def is_critical(x: Interaction) -> bool:
    return x.event == "allergy" or (x.event == "medication" and x.attrs.get("active") == "yes")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_critical_lines_are_never_dropped_or_altered(case):
    history, codes = case
    out = execute(program_from_codes(codes, HEALTHCARE), history, CATALOG, HEALTHCARE)
    lines = out.text.split("\n") if out.text else []
    expected = [i for i, x in enumerate(history.interactions) if is_critical(x)]
    assert out.meta["critical"] == expected
    assert sorted(critical_indices(history, CATALOG, HEALTHCARE)) == expected
    assert not set(expected) & set(out.meta["dropped"])
    assert set(expected) <= set(out.meta["kept"])
    # each critical line, exactly as Keep writes it, in record order (a subsequence)
    wanted = [
        keep_line(history.interactions[i], CATALOG.get(history.interactions[i].item_id), HEALTHCARE)
        for i in expected
    ]
    rest = iter(lines)
    assert all(any(line == w for line in rest) for w in wanted), (wanted, lines)
    for run in out.meta["runs"]:  # no merged run swallowed a critical interaction
        assert not set(run) & set(expected)


def test_an_all_drop_plan_keeps_only_the_critical_lines():
    xs = (
        Interaction(timestamp=datetime(2020, 1, 1), item_id="encounter:0", event="encounter"),
        Interaction(timestamp=datetime(2020, 1, 2), item_id="allergy:1", event="allergy"),
        Interaction(
            timestamp=datetime(2020, 1, 3),
            item_id="medication:2",
            event="medication",
            attrs={"active": "yes"},
        ),
        Interaction(timestamp=datetime(2020, 1, 4), item_id="medication:0", event="medication"),
    )
    history = History(user_id="p", interactions=xs)
    out = execute(program_from_codes(["drop"] * 4, HEALTHCARE), history, CATALOG, HEALTHCARE)
    assert out.text == (
        "2020-01-02, Allergy 1 (finding), Allergy\n2020-01-03, Medication 2 (finding), Prescribed"
    )
    assert out.meta["dropped"] == [0, 3]


def test_a_domain_without_critical_rules_follows_the_plan():
    plain = Domain(
        name="plain",
        codes={"keep": (Keep(),), "drop": HEALTHCARE.codes["drop"]},
        enrich_fields=(),
        aggregate_keys=("item",),
        terms=HEALTHCARE.terms,
        default_code="keep",
        critical=(Match(event="nothing-matches"),),
    )
    xs = (Interaction(item_id="allergy:1", event="allergy"),)
    out = execute(
        ((HEALTHCARE.codes["drop"]),), History(user_id="p", interactions=xs), CATALOG, plain
    )
    assert out.text == "" and out.meta["critical"] == []
