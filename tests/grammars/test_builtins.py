"""The built-in grammars: constraint kind, engine, canonical spec, budget; validation."""

from __future__ import annotations

import dataclasses
import json

import pytest

from grammars import GrammarContext, canonical_json, get_grammar
from grammars.rewrite import TITLES_MAX, Rewrite


def ctx(**kw) -> GrammarContext:
    return GrammarContext(**kw)


# action_plan


def test_action_plan_constraint_is_the_domains_codes_exactly_n_times():
    from actions.domains import get_domain

    constraint = get_grammar("action_plan").constraint(ctx(n_interactions=4))
    assert constraint.kind == "json_schema" and constraint.engine == "llguidance"
    codes = sorted(get_domain("streaming").codes)
    schema = {"type": "array", "items": {"enum": codes}, "minItems": 4, "maxItems": 4}
    compact = {"x-guidance": {"whitespace_flexible": False}}
    assert constraint.spec == json.dumps(
        {**schema, **compact}, sort_keys=True, separators=(",", ":")
    )
    longest = max(len(c) for c in codes) + 2  # with quotes
    assert constraint.max_tokens == 2 + 4 * longest + 3 + 1  # brackets, entries, commas, EOS


def test_action_plan_codes_come_from_the_domain(tiny_domain):
    grammar = get_grammar("action_plan")
    constraint = grammar.constraint(ctx(n_interactions=2, domain=tiny_domain))
    assert json.loads(constraint.spec)["items"]["enum"] == ["k", "x"]
    assert grammar.validate('["k","x"]', ctx(n_interactions=2, domain=tiny_domain)) == []
    issues = grammar.validate('["keep","x"]', ctx(n_interactions=2, domain=tiny_domain))
    assert [i.path for i in issues] == ["$[0]"]


def test_action_plan_equal_contexts_share_a_key_and_n_changes_it():
    grammar = get_grammar("action_plan")
    a = grammar.constraint(ctx(n_interactions=12))
    b = get_grammar("action_plan").constraint(ctx(n_interactions=12, extra={"titles": ["x"]}))
    c = grammar.constraint(ctx(n_interactions=13))
    assert a.spec == b.spec and a.key == b.key
    assert a.key != c.key


def test_action_plan_budget_grows_with_n_and_stays_bounded():
    grammar = get_grammar("action_plan")
    budgets = [grammar.constraint(ctx(n_interactions=n)).max_tokens for n in (1, 10, 100)]
    assert budgets[0] < budgets[1] < budgets[2]
    assert budgets[2] <= 9 * 100 + 2  # 9 bytes an entry at worst, compact


def test_action_plan_validation_reports_length_and_unknown_code_with_paths():
    grammar = get_grammar("action_plan")
    issues = grammar.validate('["keep","drop","keep","zap","keep"]', ctx(n_interactions=4))
    assert str(issues[0]) == "$: expected exactly 4 items, got 5"
    assert issues[1].path == "$[3]" and '"zap" is not one of' in issues[1].message
    assert grammar.validate('["keep"]', ctx(n_interactions=1)) == []
    assert grammar.validate('{"keep": 1}', ctx(n_interactions=1))[0].message.startswith(
        "expected type"
    )


def test_action_plan_without_context_checks_codes_only():
    grammar = get_grammar("action_plan")
    assert grammar.validate('["keep","drop","keep"]') == []
    assert [i.path for i in grammar.validate('["keep","nope"]')] == ["$[1]"]


def test_action_plan_empty_history():
    constraint = get_grammar("action_plan").constraint(ctx(n_interactions=0))
    assert json.loads(constraint.spec)["maxItems"] == 0
    assert get_grammar("action_plan").validate("[]", ctx(n_interactions=0)) == []


# numbered_plan


def test_numbered_plan_fixes_the_keys_in_order_and_takes_the_domains_codes():
    from actions.domains import get_domain

    constraint = get_grammar("numbered_plan").constraint(ctx(n_interactions=3))
    schema = json.loads(constraint.spec)
    assert list(schema["properties"]) == ["1", "2", "3"]  # listed order, not sorted ("10" < "2")
    assert schema["required"] == ["1", "2", "3"] and schema["additionalProperties"] is False
    assert schema["properties"]["2"]["enum"] == sorted(get_domain("streaming").codes)
    longest = max(len(c) for c in get_domain("streaming").codes) + 2
    assert constraint.max_tokens == 2 + 3 * (3 + 1 + longest) + 2 + 1  # braces, "k":v, commas, EOS
    keys = list(
        json.loads(get_grammar("numbered_plan").constraint(ctx(n_interactions=12)).spec)[
            "properties"
        ]
    )
    assert keys[9:] == ["10", "11", "12"]


def test_numbered_plan_validation_names_the_missing_unknown_and_misordered():
    grammar = get_grammar("numbered_plan")
    assert grammar.validate('{"1":"keep","2":"drop"}', ctx(n_interactions=2)) == []
    assert grammar.validate('{"1":"keep"}', ctx(n_interactions=2)) != []
    assert grammar.validate('{"1":"keep","2":"zap"}', ctx(n_interactions=2))[0].path == '$["2"]'
    assert grammar.validate('{"1":"keep","2":"drop","3":"keep"}', ctx(n_interactions=2)) != []
    swapped = grammar.validate('{"2":"keep","1":"drop"}', ctx(n_interactions=2))
    assert [str(i) for i in swapped] == [
        "$: the plan's keys must be the line numbers 1..2 in order"
    ]
    assert grammar.validate('{"1":"keep","2":"drop","3":"keep"}') == []  # no context: any length
    assert grammar.validate('["keep"]', ctx(n_interactions=1))[0].message.startswith(
        "expected type"
    )


def test_heuristic_plan_target_validates():
    """The warm-start target another module writes (``json.dumps`` with spaces) is valid."""
    assert (
        get_grammar("action_plan").validate(json.dumps(["keep", "drop"]), ctx(n_interactions=2))
        == []
    )


# rewrite

TITLES = ["Heat", "Kolya", "Heat", "Amélie"]
ASPECTS = ["Drama", "Comedy"]


def test_rewrite_constraint_is_llguidance_compact_and_enumerates_titles():
    constraint = get_grammar("rewrite").constraint(
        ctx(extra={"titles": TITLES, "aspects": ASPECTS})
    )
    assert constraint.kind == "cfg" and constraint.engine == "llguidance"
    schema = json.loads(constraint.fallback)  # what a schema-only server gets
    assert schema["x-guidance"] == {"whitespace_flexible": False}
    item = schema["properties"]["aggregated_items"]["items"]["properties"]
    assert item["title"] == {"enum": ["Amélie", "Heat", "Kolya"]}
    assert item["count"] == {"type": "integer", "minimum": 1, "maximum": 99}
    pref = schema["properties"]["preferences"]["items"]["properties"]
    assert pref["aspect"] == {"enum": ["Comedy", "Drama"]}
    assert constraint.fallback == canonical_json(schema)
    from grammars.schema import json_constraint

    same = json_constraint(
        get_grammar("rewrite").schema(ctx(extra={"titles": TITLES, "aspects": ASPECTS}))
    )
    assert constraint.max_tokens == same.max_tokens  # the schema's bound: the cfg is a subset


def test_rewrite_without_titles_is_the_schema_constraint():
    constraint = get_grammar("rewrite").constraint(ctx())
    assert constraint.kind == "json_schema" and constraint.fallback is None


def test_rewrite_fields_keep_their_order_in_the_spec():
    """Engines emit properties in schema order: summary first, an item's title first."""
    constraint = get_grammar("rewrite").constraint(ctx(extra={"titles": TITLES}))
    schema = json.loads(constraint.fallback)
    assert list(schema["properties"]) == ["summary", "aggregated_items", "preferences"]
    item = schema["properties"]["aggregated_items"]["items"]["properties"]
    assert list(item) == ["title", "count", "signal"]


def test_rewrite_equal_title_sets_share_a_schema_and_title_order_makes_the_grammar():
    grammar = get_grammar("rewrite")
    a = grammar.constraint(ctx(extra={"titles": ["A", "B"], "aspects": ASPECTS}))
    b = grammar.constraint(ctx(extra={"titles": ["B", "A", "B"], "aspects": ASPECTS[::-1]}))
    c = grammar.constraint(ctx(extra={"titles": ["A", "C"], "aspects": ASPECTS}))
    assert a.fallback == b.fallback and a.fallback != c.fallback
    assert a.key != b.key  # items are written in the titles' order: B before A in b
    assert a.key == grammar.constraint(ctx(extra={"titles": ["A", "B"], "aspects": ASPECTS})).key


def _matches(constraint, text):
    import llguidance

    from grammars.text import _byte_tokenizer

    tok = _byte_tokenizer()
    kind = "lark" if constraint.kind == "cfg" else "json_schema"
    matcher = llguidance.LLMatcher(tok, llguidance.grammar_from(kind, constraint.spec), log_level=0)
    return all(matcher.consume_token(b) for b in text.encode()) and matcher.is_accepting()


def _rewrite(*titles):
    items = [{"title": t, "count": 2, "signal": "liked"} for t in titles]
    prefs = [{"aspect": "Drama", "polarity": "likes"}]
    value = {"summary": "Likes Drama", "aggregated_items": items, "preferences": prefs}
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize(
    ("titles", "decodable", "valid"),
    [
        ((), True, True),
        (("Heat", "Amélie"), True, True),
        (("Heat", "Kolya", "Amélie"), True, True),
        (("Kolya", "Heat"), False, True),  # valid, but the grammar writes items in order
        (("Heat", "Heat"), False, False),  # the repeat a constrained model wrote before
        (("Heat", "Kolya", "Heat"), False, False),
    ],
)
def test_rewrite_grammar_writes_each_title_once_in_order(titles, decodable, valid):
    grammar = get_grammar("rewrite")
    context = ctx(extra={"titles": TITLES, "aspects": ASPECTS})
    constraint = grammar.constraint(context)
    text = _rewrite(*titles)
    assert _matches(constraint, text) is decodable
    assert (grammar.validate(text, context) == []) is valid
    fallback = dataclasses.replace(constraint, kind="json_schema", spec=constraint.fallback)
    assert _matches(fallback, text) is (valid or titles.count("Heat") > 1)  # schema: no check
    if "Amélie" in titles:  # valid, but not how the decoder spells it (nor the schema's)
        escaped = text.replace("Amélie", "Am\\u00e9lie")
        assert grammar.validate(escaped, context) == [] and not _matches(constraint, escaped)


def test_rewrite_repeat_is_reported_at_its_path():
    issues = get_grammar("rewrite").validate(
        _rewrite("Heat", "Kolya", "Heat"), ctx(extra={"titles": TITLES, "aspects": ASPECTS})
    )
    assert [(i.path, i.message) for i in issues] == [
        ("$.aggregated_items[2].title", "repeats item 0's title")
    ]


def test_rewrite_caps_titles_keeping_the_most_recent():
    titles = [f"T{i:02d}" for i in range(50)]
    schema = get_grammar("rewrite").schema(ctx(extra={"titles": titles}))
    enum = schema["properties"]["aggregated_items"]["items"]["properties"]["title"]["enum"]
    assert enum == sorted(titles[:TITLES_MAX])


def test_rewrite_with_no_titles_allows_no_items():
    schema = get_grammar("rewrite").schema(ctx(extra={"titles": []}))
    assert schema["properties"]["aggregated_items"]["maxItems"] == 0


def test_rewrite_fallback_is_the_shipped_schema_file():
    from pathlib import Path

    import grammars

    shipped = json.loads((Path(grammars.__file__).parent / "schemas" / "rewrite.json").read_text())
    assert shipped == get_grammar("rewrite").schema(None)


GOOD = {
    "summary": "Likes crime dramas, drops comedies.",
    "aggregated_items": [{"title": "Heat", "count": 3, "signal": "liked"}],
    "preferences": [{"aspect": "Drama", "polarity": "likes"}],
}


def test_rewrite_parse_returns_the_pydantic_model():
    rewrite = get_grammar("rewrite").parse(
        json.dumps(GOOD), ctx(extra={"titles": TITLES, "aspects": ASPECTS})
    )
    assert isinstance(rewrite, Rewrite)
    assert rewrite.aggregated_items[0].count == 3 and rewrite.preferences[0].aspect == "Drama"


def test_rewrite_validation_reports_every_issue_with_its_path():
    bad = {
        "summary": "x" * 121,
        "aggregated_items": [
            {"title": "Heat", "count": 3, "signal": "liked"},
            {"title": "Heat", "count": 3, "signal": "liked"},
            {"title": "Nope", "count": 100, "signal": "loved"},
        ],
        "preferences": [{"aspect": "Drama", "polarity": "likes", "why": "x"}],
    }
    issues = get_grammar("rewrite").validate(
        json.dumps(bad), ctx(extra={"titles": TITLES, "aspects": ASPECTS})
    )
    paths = [i.path for i in issues]
    assert paths == [
        "$.aggregated_items[2].count",
        "$.aggregated_items[2].signal",
        "$.aggregated_items[2].title",
        "$.preferences[0]",
        "$.summary",
    ]
    assert "greater than the maximum of 99" in issues[0].message
    with pytest.raises(ValueError, match=r"\$\.summary"):
        get_grammar("rewrite").parse(json.dumps(bad))


def test_rewrite_summary_is_plain_ascii():
    text = json.dumps({**GOOD, "summary": 'says "hi"'})
    assert [i.path for i in get_grammar("rewrite").validate(text)] == ["$.summary"]


# choice


def test_choice_labels_and_parse():
    grammar = get_grammar("choice")
    constraint = grammar.constraint(ctx(n_candidates=10))
    assert (constraint.kind, constraint.engine, constraint.max_tokens) == (
        "choice",
        "outlines_core",
        2,
    )
    assert json.loads(constraint.spec) == list("ABCDEFGHIJ")
    assert grammar.parse("C", ctx()) == 2
    assert grammar.parse(" J\n", ctx()) == 9
    assert (
        grammar.validate("K", ctx())[0].message
        == "expected one of A, B, C, D, E, F, G, H, I, J, got 'K'"
    )
    assert grammar.validate("E", ctx(n_candidates=4))[0].path == "$"
    assert grammar.constraint(ctx(n_candidates=4)).key != constraint.key


def test_choice_labels_match_the_reasoners():
    from toolkit.tasks import LABELS

    assert json.loads(get_grammar("choice").constraint(ctx(n_candidates=26)).spec) == list(LABELS)


def test_choice_index():
    grammar = get_grammar("choice_index")
    constraint = grammar.constraint(ctx(n_candidates=12))
    assert json.loads(constraint.spec)[-1] == "11" and constraint.max_tokens == 3
    assert grammar.parse("11", ctx(n_candidates=12)) == 11


def test_choice_labels_are_single_tokens(tokenizer):
    labels = json.loads(get_grammar("choice").constraint(ctx(n_candidates=10)).spec)
    labels += json.loads(get_grammar("choice_index").constraint(ctx(n_candidates=10)).spec)
    for label in labels:
        assert len(tokenizer.encode(label, add_special_tokens=False)) == 1, label
