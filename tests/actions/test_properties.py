"""Properties of ``execute`` over random histories and random valid code lists: it never
raises, it is deterministic byte for byte, and its meta agrees with its text."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actions import ActionError, execute, get_domain, program_from_codes
from toolkit.records import Catalog, History, Interaction, Item

CATALOG = Catalog(
    [
        Item(item_id="m1", title="Kolya", year=1996, genres=("Comedy", "Drama"), tags=("czech",)),
        Item(item_id="m2", title="Heat", genres=("Crime",), description="Cops and\nrobbers " * 20),
        Item(item_id="s1", title="Lost", year=2004, attrs={"category": "Drama", "price": 2.5}),
        Item(item_id="e1", title="Pilot", attrs={"series": "Lost", "kind": "episode", "code": 1}),
        Item(item_id="e2", title="Walkabout", attrs={"series": "Lost", "kind": "episode"}),
        Item(item_id="c1", title="Sinusitis", attrs={"code": "36971009", "system": "SNOMED-CT"}),
    ]
)
ITEM_IDS = [*CATALOG.ids(), "missing"]
DOMAINS = ["streaming", "ecommerce", "healthcare"]

interactions = st.builds(
    Interaction,
    timestamp=st.one_of(
        st.none(),
        st.integers(0, 10_000).map(lambda h: datetime(2024, 1, 1) + timedelta(hours=h)),
    ),
    item_id=st.sampled_from(ITEM_IDS),
    event=st.sampled_from(["play", "preview", "thumb_up", "abandon", "purchase"]),
    duration=st.one_of(st.none(), st.floats(0, 600, allow_nan=False)),
    attrs=st.one_of(
        st.just({}),
        st.fixed_dictionaries({"season": st.integers(1, 3), "episode": st.integers(1, 12)}),
        st.fixed_dictionaries({"episode": st.integers(1, 12)}),
    ),
)
histories = st.lists(interactions, max_size=12).map(
    lambda xs: History(user_id="u", interactions=tuple(xs))
)


@st.composite
def cases(draw):
    domain = get_domain(draw(st.sampled_from(DOMAINS)))
    history = draw(histories)
    codes = draw(
        st.lists(st.sampled_from(list(domain.codes)), min_size=len(history), max_size=len(history))
    )
    return domain, history, codes


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(cases())
def test_execute_is_deterministic_and_total(case):
    domain, history, codes = case
    program = program_from_codes(codes, domain, n=len(history))
    first = execute(program, history, CATALOG, domain)
    second = execute(program_from_codes(list(codes), domain.name), history, CATALOG, domain.name)
    assert json.dumps(first.to_json(), sort_keys=False) == json.dumps(second.to_json())
    assert first.text.encode() == second.text.encode()

    meta = first.meta
    lines = first.text.split("\n") if first.text else []
    assert len(lines) == meta["lines"]
    assert sorted(meta["kept"] + meta["dropped"]) == list(range(len(history)))
    assert [i for i, c in enumerate(codes) if c == "drop"] == meta["dropped"]
    assert all(line and line == line.strip() for line in lines)
    # every kept interaction is on exactly one line: Keep lines plus aggregate runs
    in_runs = [i for run in meta["runs"] for i in run]
    keeps = [i for i in meta["kept"] if i not in in_runs]
    assert len(keeps) + len(meta["runs"]) == len(lines)
    assert sorted(in_runs + keeps) == meta["kept"]
    assert meta["aggregated_runs"] == sum(1 for run in meta["runs"] if len(run) > 1)
    assert first.chars == len(first.text) and first.template_chars is not None


@FAST
@given(histories)
def test_keep_everything_gives_one_line_per_interaction(history):
    out = execute(program_from_codes(["keep"] * len(history), "streaming"), history, CATALOG)
    assert out.meta["lines"] == len(history)
    assert out.chars <= out.template_chars  # the compact line is never longer than the row


@FAST
@given(histories)
def test_aggregating_everything_merges_maximal_runs(history):
    out = execute(program_from_codes(["series"] * len(history), "streaming"), history, CATALOG)

    def key(x):
        item = CATALOG.get(x.item_id)
        return (item.attrs.get("series") if item else None) or x.item_id

    keys = [key(x) for x in history.interactions]
    runs = sum(1 for i, k in enumerate(keys) if i == 0 or keys[i - 1] != k)
    assert out.meta["lines"] == runs


@FAST
@given(cases(), st.text(min_size=1, max_size=8), st.data())
def test_invalid_codes_raise_naming_them(case, bad, data):
    domain, history, codes = case
    if bad in domain.codes or not history:
        return
    position = data.draw(st.integers(0, len(codes) - 1))
    codes = [*codes[:position], bad, *codes[position + 1 :]]
    try:
        program_from_codes(codes, domain, n=len(history))
    except ActionError as exc:
        assert f"unknown action code {bad!r} at position {position}" in str(exc)
        assert "allowed: " + ", ".join(domain.codes) in str(exc)
    else:
        raise AssertionError("an unknown code was accepted")
