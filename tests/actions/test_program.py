"""Codes to programs, and validation that collects every problem."""

from __future__ import annotations

import pytest

from actions import (
    ActionError,
    Aggregate,
    Annotate,
    Drop,
    Enrich,
    Keep,
    check_program,
    program_from_codes,
    validate_program,
)

ALLOWED = "allowed: keep, drop, enrich, tags, series, liked"


def test_codes_map_to_the_domain_steps():
    program = program_from_codes(["keep", "drop", "enrich", "tags", "series", "liked"], "streaming")
    assert program == (
        (Keep(),),
        (Drop(),),
        (Keep(), Enrich(("genres",))),
        (Keep(), Enrich(("tags",))),
        (Aggregate("series"),),
        (Keep(), Annotate("liked")),
    )


def test_unknown_codes_are_all_named_with_the_allowed_ones():
    with pytest.raises(ActionError) as info:
        program_from_codes(["keep", "skip", "drop", "Keep"], "streaming")
    assert info.value.problems == [
        f"unknown action code 'skip' at position 1 in domain 'streaming'; {ALLOWED}",
        f"unknown action code 'Keep' at position 3 in domain 'streaming'; {ALLOWED}",
    ]


def test_wrong_length_names_both_lengths():
    with pytest.raises(
        ActionError, match="the plan has 2 codes but the history has 3 interactions"
    ):
        program_from_codes(["keep", "drop"], "streaming", n=3)
    assert len(program_from_codes(["keep", "drop"], "streaming", n=2)) == 2


def test_a_string_is_not_a_code_list():
    with pytest.raises(ActionError, match="a list of strings"):
        program_from_codes("keep", "streaming")


def test_non_string_codes_are_unknown():
    with pytest.raises(ActionError, match="unknown action code 3 at position 0"):
        program_from_codes([3], "streaming")  # type: ignore[list-item]


def test_validate_collects_all_problems():
    program = (
        (Keep(), Enrich(("genres", "price", "brand"))),
        (Aggregate("kind"),),
        (Drop(), Keep()),
        ("keep",),
    )
    problems = validate_program(program, "streaming", n=5)
    assert problems == [
        "the program has 4 steps but the history has 5 interactions",
        "step 0: unknown enrich field 'price' in domain 'streaming'; "
        "allowed: genres, year, tags, description",
        "step 0: unknown enrich field 'brand' in domain 'streaming'; "
        "allowed: genres, year, tags, description",
        "step 1: unknown aggregate key 'kind' in domain 'streaming'; allowed: item, series",
        "step 2: a step takes one of Keep, Drop, Aggregate, got [Drop(), Keep()]",
        "step 3: unknown term str 'keep'; known terms: Keep, Drop, Aggregate, Enrich, Annotate",
        "step 3: a step needs one of Keep, Drop, Aggregate, got ('keep',)",
    ]
    # the same program is fine where the fields and keys exist
    assert validate_program(program[:2], "healthcare") == [
        "step 0: unknown enrich field 'genres' in domain 'healthcare'; "
        "allowed: code, description, system, kind",
        "step 0: unknown enrich field 'price' in domain 'healthcare'; "
        "allowed: code, description, system, kind",
        "step 0: unknown enrich field 'brand' in domain 'healthcare'; "
        "allowed: code, description, system, kind",
    ]


def test_validate_rejects_non_sequences():
    assert validate_program(None, "streaming") == [  # type: ignore[arg-type]
        "a program must be a sequence of steps, got NoneType"
    ]


def test_check_program_returns_a_tuple_or_raises_everything():
    assert check_program([(Keep(),), (Drop(),)], "streaming") == ((Keep(),), (Drop(),))
    with pytest.raises(ActionError) as info:
        check_program([(), (Drop(), Annotate("x"))], "streaming")
    assert len(info.value.problems) == 2
