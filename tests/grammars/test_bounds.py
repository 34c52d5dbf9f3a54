"""The byte bound is the token budget: it must be exact for the worst case, and it must
hold for the real tokenizer whatever split the sampler takes."""

from __future__ import annotations

import json

import pytest

from grammars import GrammarContext, get_grammar
from grammars.bounds import max_bytes, single_byte_class
from grammars.rewrite import (
    ASPECT_MAX,
    ITEMS_MAX,
    PREFERENCES_MAX,
    SUMMARY_MAX,
    TEXT_PATTERN,
    TITLE_MAX,
    rewrite_schema,
)
from grammars.validation import schema_issues


def compact(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def worst_rewrite(titles: list[str] | None, aspects: list[str] | None) -> dict:
    title = max(titles, key=lambda t: len(compact(t).encode())) if titles else "~" * TITLE_MAX
    aspect = max(aspects, key=lambda a: len(compact(a).encode())) if aspects else "~" * ASPECT_MAX
    return {
        "aggregated_items": [{"count": 99, "signal": "abandoned", "title": title}] * ITEMS_MAX,
        "preferences": [{"aspect": aspect, "polarity": "dislikes"}] * PREFERENCES_MAX,
        "summary": "~" * SUMMARY_MAX,
    }


@pytest.mark.parametrize(
    "titles,aspects",
    [(None, None), (["Heat", "Amélie", 'Say "Yes"', "The Matrix (1999)"], ["Drama", "Sci-Fi"])],
)
def test_rewrite_bound_is_exactly_the_longest_valid_output(titles, aspects):
    schema = rewrite_schema(titles, aspects)
    worst = worst_rewrite(titles, aspects)
    assert schema_issues(worst, schema) == []
    assert max_bytes(schema, 0).bytes == len(compact(worst).encode())


def test_action_plan_bound_is_exact_and_covers_outlines_core_whitespace():
    schema = get_grammar("action_plan").schema(GrammarContext(n_interactions=7))
    assert max_bytes(schema, 0).bytes == len(compact(["series"] * 7))
    spaced = "[ " + ", ".join(['"series"'] * 7) + " ]"  # a space in every gap [ ]? allows
    assert max_bytes(schema, 1).bytes >= len(spaced.encode())


@pytest.mark.parametrize(
    "schema,reason",
    [
        ({"type": "string"}, "string without maxLength"),
        ({"type": "array", "items": {"enum": [1]}}, "array without maxItems"),
        ({"type": "object", "properties": {}}, "object open to other properties"),
        ({"type": "number"}, "number"),
        ({"type": "integer", "minimum": 0}, "integer without minimum and maximum"),
        ({"$defs": {"n": {"$ref": "#/$defs/n"}}, "$ref": "#/$defs/n"}, "recursive $ref"),
    ],
)
def test_unbounded_schemas_say_where_and_why(schema, reason):
    bound = max_bytes(schema, 0)
    assert bound.bytes is None
    assert reason in bound.reasons[0].message
    assert bound.max_tokens(512) == 512


def test_free_whitespace_is_unbounded():
    assert max_bytes({"enum": ["a"]}, None).bytes is None


def test_alternatives_take_the_longest_and_all_of_the_shortest():
    schema = {"anyOf": [{"enum": ["aaaa"]}, {"type": "integer", "minimum": 0, "maximum": 9}]}
    assert max_bytes(schema).bytes == 6
    both = {
        "allOf": [{"type": "string"}, {"type": "string", "maxLength": 3, "pattern": TEXT_PATTERN}]
    }
    assert max_bytes(both).bytes == 5 and max_bytes(both).reasons == []


def test_strings_without_a_safe_pattern_count_escapes():
    assert max_bytes({"type": "string", "maxLength": 2}).bytes == 2 + 2 * 6
    assert max_bytes({"type": "string", "maxLength": 2, "pattern": TEXT_PATTERN}).bytes == 4


@pytest.mark.parametrize(
    "pattern,safe",
    [
        (TEXT_PATTERN, True),
        (r"^[a-z0-9 ]*$", True),
        (r"^[a-z\"]*$", False),
        (r"^[^a]*$", False),
        (r"^[\w]*$", False),
        (r"^[a-zé]*$", False),
        (r"^(a|b)*$", False),
        ("", False),
    ],
)
def test_single_byte_class(pattern, safe):
    assert single_byte_class(pattern) is safe


@pytest.mark.parametrize("name", ["action_plan", "rewrite", "choice", "choice_index"])
def test_worst_case_output_fits_max_tokens_on_the_real_tokenizer(name, tokenizer):
    """Even spelled one byte per token the maximal output closes inside the budget."""
    grammar = get_grammar(name)
    titles = ["Star Wars: Episode V - The Empire Strikes Back (1980)", "Amélie (2001)"]
    ctx = GrammarContext(
        n_interactions=100, n_candidates=10, extra={"titles": titles, "aspects": ["Drama"]}
    )
    constraint = grammar.constraint(ctx)
    if name == "action_plan":
        worst = compact(["series"] * 100)
    elif name == "rewrite":
        worst = compact(worst_rewrite(titles, ["Drama"]))
    else:
        worst = json.loads(constraint.spec)[-1]
    if name == "rewrite":  # a title six times: the schema's worst, which its grammar refuses
        assert schema_issues(json.loads(worst), grammar.schema(ctx)) == []
    else:
        assert grammar.validate(worst, ctx) == []
    tokens = tokenizer.encode(worst, add_special_tokens=False)
    assert len(tokens) < constraint.max_tokens
    assert len(worst.encode()) < constraint.max_tokens  # the split-independent guarantee
