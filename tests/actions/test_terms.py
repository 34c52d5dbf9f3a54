"""Terms: frozen values, composition with ``+``, argument checks at construction."""

from __future__ import annotations

import dataclasses
import doctest

import pytest

import actions
import actions.domains.base
import actions.executor
import actions.program
import actions.terms
from actions import ActionError, Aggregate, Annotate, Drop, Enrich, Keep


def test_terms_are_frozen_hashable_values():
    assert Enrich(["genres", "year"]) == Enrich(("genres", "year"))
    assert len({Keep(), Keep(), Drop(), Aggregate("item"), Aggregate("item")}) == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        Aggregate("item").by = "series"  # type: ignore[misc]


def test_a_single_field_name_is_one_field():
    assert Enrich("genres").fields == ("genres",)


def test_plus_composes_a_step():
    step = Keep() + Enrich("genres") + Annotate("liked")
    assert step == (Keep(), Enrich(("genres",)), Annotate("liked"))
    assert (Keep(),) + Annotate("x") == (Keep(), Annotate("x"))  # noqa: RUF005
    with pytest.raises(TypeError):
        Keep() + "genres"  # type: ignore[operator]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Enrich(()), "needs non-empty field names"),
        (lambda: Enrich(("genres", "")), "needs non-empty field names"),
        (lambda: Aggregate(""), "needs a non-empty key name"),
        (lambda: Annotate(""), "needs one non-empty line"),
        (lambda: Annotate("two\nlines"), "needs one non-empty line"),
        (lambda: Annotate("x" * 41), "41 characters; at most 40"),
    ],
)
def test_bad_arguments_raise(make, message):
    with pytest.raises(ActionError, match=message):
        make()


def test_describe_is_short_text():
    assert Enrich(("genres", "year")).describe() == "add genres, year"
    assert Aggregate("series").describe() == "merge with neighbouring lines of the same series"
    assert Annotate("liked").describe() == 'mark "liked"'


@pytest.mark.parametrize(
    "module",
    [actions, actions.terms, actions.program, actions.executor, actions.domains.base],
)
def test_doctests(module):
    result = doctest.testmod(module)
    assert result.failed == 0
