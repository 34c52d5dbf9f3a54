"""Each term's output, table-driven, on the fixture history (see conftest.py)."""

from __future__ import annotations

import re

import pytest

from actions import (
    ActionError,
    Aggregate,
    Annotate,
    Drop,
    Enrich,
    Keep,
    execute,
    program_from_codes,
)
from toolkit.records import History, Interaction
from toolkit.verbalizers.template import render_template

K, D = (Keep(),), (Drop(),)
SERIES, ITEM = (Aggregate("series"),), (Aggregate("item"),)

KEEP_LINES = [
    "2024-03-01, Kolya (1996), Preview, <1 min",
    "2024-03-01, Breaking Bad (2008) S1E1, Play, 47 min",
    "2024-03-02, Breaking Bad (2008) S1E2, Play, 47 min",
    "2024-03-02, Breaking Bad (2008) S1E3, Play, 47 min",
    "2024-03-03, Heat (1995), Abandon, 4 min",
    "2024-03-03, Breaking Bad (2008) S1E4, Play, 47 min",
    "2024-03-05, Kolya (1996), Thumb Up, 1 h 35 min",
    "Unknown item zz, Play",
]

CASES = {
    "keep renders every line compactly": ((K,) * 8, KEEP_LINES),
    "drop removes lines": ((D,) * 8, []),
    "drop some": ((D, K, D, D, D, D, K, D), [KEEP_LINES[1], KEEP_LINES[6]]),
    "enrich genres": (
        (Keep() + Enrich("genres"),) + (D,) * 7,
        ["2024-03-01, Kolya (1996), Preview, <1 min; genres: Comedy, Drama"],
    ),
    "enrich missing fields are skipped": (
        ((Keep(), Enrich(("description", "genres", "tags"))),) + (D,) * 7,
        ["2024-03-01, Kolya (1996), Preview, <1 min; genres: Comedy, Drama"],
    ),
    "enrich several fields in order": (
        (D, (Keep(), Enrich(("tags", "year", "description"))), *(D,) * 6),
        [
            "2024-03-01, Breaking Bad (2008) S1E1, Play, 47 min; tags: chemistry, antihero; "
            "year: 2008; description: A chemistry teacher turns to crime."
        ],
    ),
    "enrich on an unknown item adds nothing": (
        (D,) * 7 + ((Keep(), Enrich("genres")),),
        [KEEP_LINES[7]],
    ),
    "annotate": (
        (D,) * 6 + ((Keep(), Annotate("liked")), D),
        ["2024-03-05, Kolya (1996), Thumb Up, 1 h 35 min [liked]"],
    ),
    "enrich then annotate, duplicates once": (
        (D,) * 6 + ((Keep(), Annotate("liked"), Enrich("genres"), Annotate("liked")), D),
        ["2024-03-05, Kolya (1996), Thumb Up, 1 h 35 min; genres: Comedy, Drama [liked]"],
    ),
    "aggregate a binge run across a dropped line": (
        (D, SERIES, SERIES, SERIES, D, SERIES, K, D),
        [
            "Breaking Bad (2008): 4 episodes S1E1-S1E4, Play, 3 h 8 min, last 2024-03-03",
            KEEP_LINES[6],
        ],
    ),
    "a kept line breaks a run": (
        (D, SERIES, SERIES, K, D, SERIES, D, D),
        [
            "Breaking Bad (2008): 2 episodes S1E1-S1E2, Play, 1 h 34 min, last 2024-03-02",
            KEEP_LINES[3],
            "Breaking Bad (2008): 1 episode S1E4, Play, 47 min, last 2024-03-03",
        ],
    ),
    "a different item breaks a run": (
        (SERIES,) * 8,
        [
            "Kolya (1996): 1 time, Preview, <1 min, last 2024-03-01",
            "Breaking Bad (2008): 3 episodes S1E1-S1E3, Play, 2 h 21 min, last 2024-03-02",
            "Heat (1995): 1 time, Abandon, 4 min, last 2024-03-03",
            "Breaking Bad (2008): 1 episode S1E4, Play, 47 min, last 2024-03-03",
            "Kolya (1996): 1 time, Thumb Up, 1 h 35 min, last 2024-03-05",
            "Unknown item zz: 1 time, Play",
        ],
    ),
    "runs merge only under the same key name": (
        (D, SERIES, ITEM, D, D, D, D, D),
        [
            "Breaking Bad (2008): 1 episode S1E1, Play, 47 min, last 2024-03-01",
            "Breaking Bad (2008): 1 episode S1E2, Play, 47 min, last 2024-03-02",
        ],
    ),
    "aggregate modifiers apply once to the merged line": (
        (D, SERIES, (Aggregate("series"), Enrich("genres"), Annotate("binge")), SERIES, *(D,) * 4),
        [
            "Breaking Bad (2008): 3 episodes S1E1-S1E3, Play, 2 h 21 min, last 2024-03-02; "
            "genres: Crime, Drama [binge]"
        ],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_term_output(name, history, catalog):
    program, expected = CASES[name]
    out = execute(program, history, catalog)
    assert out.text == "\n".join(expected)
    assert out.chars == len(out.text)
    assert out.meta["lines"] == len(expected)


def test_series_of_several_items_is_headed_by_the_series(catalog):
    xs = tuple(Interaction(item_id=i, event="play", duration=40.0) for i in ("p1", "p2", "p1"))
    out = execute((SERIES,) * 3, History(user_id="u", interactions=xs), catalog)
    assert out.text == "Lost (Pilot, Walkabout): 3 times, Play, 2 h"
    out = execute((ITEM,) * 3, History(user_id="u", interactions=xs), catalog)
    assert out.text.splitlines() == [
        "Pilot: 1 time, Play, 40 min",
        "Walkabout: 1 time, Play, 40 min",
        "Pilot: 1 time, Play, 40 min",
    ]


def test_many_items_in_one_run_are_capped_at_three_titles(catalog):
    from toolkit.records import Catalog, Item

    cat = Catalog(
        [Item(item_id=str(i), title=f"T{i}", attrs={"category": "Action"}) for i in range(5)]
    )
    xs = tuple(Interaction(item_id=str(i), event="buy") for i in range(5))
    out = execute(
        ((Aggregate("category"),),) * 5,
        History(user_id="u", interactions=xs),
        cat,
        "ecommerce",
    )
    assert out.text == "Action (T0, T1, T2, +2 more): 5 times, Buy"


def test_ecommerce_enrich_uses_item_attrs(catalog):
    xs = (Interaction(item_id="h", event="purchase"),)
    out = execute(
        program_from_codes(["details"], "ecommerce"),
        History(user_id="u", interactions=xs),
        catalog,
        "ecommerce",
    )
    assert out.text == "Heat (1995), Bought; price: 9.5"  # the domain's wording
    assert out.meta["enriched_fields"] == {"price": 1}


def test_meta_counts_what_each_term_did(history, catalog):
    codes = ["drop", "series", "series", "series", "drop", "series", "liked", "enrich"]
    out = execute(program_from_codes(codes, "streaming"), history, catalog)
    assert out.meta == {
        "kept": [1, 2, 3, 5, 6, 7],
        "dropped": [0, 4],
        "lines": 3,
        "aggregated_runs": 1,
        "runs": [[1, 2, 3, 5]],
        "enriched_fields": {},  # the unknown item has no genres
        "annotations": 1,
        "critical": [],
    }
    assert out.valid


def test_lengths_and_compression_against_the_template(history, catalog, tokenizer):
    template = render_template(history, catalog)
    codes = ["drop", "series", "series", "series", "drop", "series", "keep", "keep"]
    out = execute(program_from_codes(codes, "streaming"), history, catalog, tokenizer=tokenizer)
    assert out.template_chars == len(template)
    assert out.template_tokens == len(tokenizer.encode(template, add_special_tokens=False))
    assert out.tokens == len(tokenizer.encode(out.text, add_special_tokens=False))
    assert 0 < out.compression < 0.5
    no_tok = execute(program_from_codes(codes, "streaming"), history, catalog)
    assert no_tok.tokens is None and no_tok.template_tokens is None
    assert no_tok.compression == pytest.approx(no_tok.chars / len(template))


def test_empty_history(catalog):
    out = execute((), History(user_id="u"), catalog)
    assert out.text == "" and out.meta["lines"] == 0 and out.template_chars == 0


def test_long_and_multiline_fields_are_cleaned(catalog):
    from toolkit.records import Catalog, Item

    cat = Catalog([Item(item_id="1", title="T", description="word\n" * 40)])
    xs = (Interaction(item_id="1", event="play"),)
    out = execute(((Keep(), Enrich("description")),), History(user_id="u", interactions=xs), cat)
    assert "\n" not in out.text
    desc = out.text.split("; description: ")[1]
    assert desc.endswith("...") and len(desc) <= 100 and desc.startswith("word word")


ERRORS = {
    "wrong length": ((K,) * 3, ActionError, "the program has 3 steps but the history has 8"),
    "unknown field": (
        (Keep(), Enrich(("genres", "price"))),
        ActionError,
        "unknown enrich field 'price'",
    ),
    "unknown key": ((Aggregate("genre"),), ActionError, "unknown aggregate key 'genre'"),
    "not a term": ((Keep(), "genres"), TypeError, "unknown action term 'genres' (str)"),
    "empty step": ((), ActionError, "a step needs one of Keep, Drop, Aggregate"),
    "two bases": ((Keep(), Aggregate("item")), ActionError, "a step takes one of"),
    "drop with modifiers": ((Drop(), Annotate("x")), ActionError, "Drop cannot be combined"),
    "list step": ([Keep()], ActionError, "a step must be a tuple of terms"),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_invalid_programs_raise_naming_the_problem(name, history, catalog):
    step, error, message = ERRORS[name]
    program = step if name == "wrong length" else (step,) + (K,) * 7
    with pytest.raises(error, match=re.escape(message)):
        execute(program, history, catalog)


def test_errors_name_the_allowed_values_and_all_problems(history, catalog):
    program = ((Keep(), Enrich("price")),) + (K,) * 6 + ((Aggregate("genre"),),)
    with pytest.raises(ActionError) as info:
        execute(program, history, catalog)
    assert info.value.problems == [
        "step 0: unknown enrich field 'price' in domain 'streaming'; "
        "allowed: genres, year, tags, description",
        "step 7: unknown aggregate key 'genre' in domain 'streaming'; allowed: item, series",
    ]


def test_domain_restricts_terms(catalog):
    xs = (Interaction(item_id="k", event="diagnosis"),)
    with pytest.raises(ActionError, match="term Annotate is not allowed in domain 'healthcare'"):
        execute(
            ((Keep(), Annotate("x")),), History(user_id="u", interactions=xs), catalog, "healthcare"
        )


def test_a_subclassed_term_is_unknown(history, catalog):
    class MyKeep(Keep):
        pass

    with pytest.raises(TypeError, match=r"unknown action term .*MyKeep"):
        execute(((MyKeep(),),) + (K,) * 7, history, catalog)
