"""The engine tables say which keywords each engine enforces; these tests hold the tables to
what the real engines do, and check that anything else is refused with its path."""

from __future__ import annotations

import json
import re

import pytest

from grammars.base import GrammarError
from grammars.engines import ENGINES, check_schema, require_supported
from grammars.schema import json_constraint

OBJ = {"type": "object", "properties": {"a": {"type": "integer"}}}
# keyword -> (schema, an instance valid under it, an instance violating only that keyword)
CASES = {
    "type": ({"type": "integer"}, 3, "x"),
    "enum": ({"enum": ["a", "b"]}, "a", "c"),
    "const": ({"const": "a"}, "a", "b"),
    "properties": ({**OBJ, "required": ["a"], "additionalProperties": False}, {"a": 1}, {"a": "x"}),
    "required": ({**OBJ, "required": ["a"], "additionalProperties": False}, {"a": 1}, {}),
    "additionalProperties": ({**OBJ, "additionalProperties": False}, {"a": 1}, {"a": 1, "b": 2}),
    "items": ({"type": "array", "items": {"type": "integer"}}, [1], ["x"]),
    "minItems": ({"type": "array", "items": {"type": "integer"}, "minItems": 2}, [1, 2], [1]),
    "maxItems": ({"type": "array", "items": {"type": "integer"}, "maxItems": 2}, [1], [1, 2, 3]),
    "prefixItems": (
        {"type": "array", "prefixItems": [{"type": "integer"}], "items": False},
        [1],
        ["x"],
    ),
    "uniqueItems": (
        {"type": "array", "items": {"type": "integer"}, "uniqueItems": True},
        [1, 2],
        [1, 1],
    ),
    "contains": (
        {"type": "array", "items": {"type": "integer"}, "contains": {"const": 5}},
        [5],
        [1],
    ),
    "minLength": ({"type": "string", "minLength": 2}, "ab", "a"),
    "maxLength": ({"type": "string", "maxLength": 2}, "ab", "abc"),
    "pattern": ({"type": "string", "pattern": "^[a-z]+$"}, "ab", "A1"),
    "minimum": ({"type": "integer", "minimum": 1}, 1, 0),
    "maximum": ({"type": "integer", "maximum": 99}, 99, 100),
    "exclusiveMinimum": ({"type": "integer", "exclusiveMinimum": 1}, 2, 1),
    "exclusiveMaximum": ({"type": "integer", "exclusiveMaximum": 9}, 8, 9),
    "multipleOf": ({"type": "integer", "multipleOf": 3}, 3, 4),
    "anyOf": ({"anyOf": [{"type": "integer"}, {"type": "boolean"}]}, 1, "x"),
    "oneOf": ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, 1.5, 1),
    "allOf": ({"allOf": [{"type": "integer"}, {"minimum": 2}]}, 2, 1),
    "not": ({"type": "integer", "not": {"const": 1}}, 2, 1),
    "if": ({"type": "integer", "if": {"minimum": 5}, "then": {"maximum": 6}}, 6, 7),
    "$ref": ({"$defs": {"a": {"type": "integer"}}, "$ref": "#/$defs/a"}, 1, "x"),
    "patternProperties": (
        {
            "type": "object",
            "patternProperties": {"^a": {"type": "integer"}},
            "additionalProperties": False,
        },
        {"a": 1},
        {"a": "x"},
    ),
    "propertyNames": ({"type": "object", "propertyNames": {"pattern": "^a"}}, {"a": 1}, {"b": 1}),
    "maxProperties": ({"type": "object", "maxProperties": 1}, {"a": 1}, {"a": 1, "b": 2}),
    "dependentRequired": (
        {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "dependentRequired": {"a": ["b"]},
        },
        {"a": 1, "b": 1},
        {"a": 1},
    ),
}
FORMAT_EXAMPLES = {
    "date": "2024-03-01",
    "date-time": "2024-03-01T21:00:00Z",
    "email": "a@b.co",
    "uri": "https://example.com/a",
    "uuid": "123e4567-e89b-12d3-a456-426614174000",
    "hostname": "example.com",
    "ipv4": "10.0.0.1",
}


def _compact(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def accepts(engine: str, schema: dict, value) -> bool:
    """Whether ``engine``, compiling ``schema`` as Outlines would, lets ``value`` through."""
    text = _compact(value)
    if engine == "outlines_core":
        from outlines_core.json_schema import build_regex_from_schema

        return re.fullmatch(build_regex_from_schema(_compact(schema)), text) is not None
    if engine == "xgrammar":
        import xgrammar

        grammar = xgrammar.Grammar.from_json_schema(_compact(schema))
        return xgrammar.testing._is_grammar_accept_string(grammar, text)
    import llguidance

    from grammars.text import _byte_tokenizer

    spec = _compact(ENGINES["llguidance"].prepare(schema))
    grammar = llguidance.grammar_from("json_schema", spec)
    error = llguidance.LLMatcher.validate_grammar(grammar, _byte_tokenizer())
    if error:
        raise ValueError(error)
    matcher = llguidance.LLMatcher(_byte_tokenizer(), grammar, log_level=0)
    return all(matcher.consume_token(b) for b in text.encode()) and matcher.is_accepting()


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("keyword", list(CASES))
def test_keyword_table_matches_the_engine(engine: str, keyword: str):
    schema, valid, invalid = CASES[keyword]
    try:
        ok, bad = accepts(engine, schema, valid), accepts(engine, schema, invalid)
    except Exception:  # the engine refuses the keyword itself: loud, never silent
        assert keyword not in ENGINES[engine].keywords
        return
    if keyword in ENGINES[engine].keywords:
        assert ok and not bad, f"{engine} should enforce {keyword}"
    else:  # ignored (invalid passes) or mishandled (valid refused): either way refused here
        assert not (ok and not bad), f"{engine} enforces {keyword}: add it to its keyword set"
        assert check_schema(schema, engine), f"check_schema should refuse {keyword} on {engine}"


@pytest.mark.parametrize("engine", list(ENGINES))
def test_claimed_formats_are_enforced(engine: str):
    for fmt in sorted(ENGINES[engine].formats & set(FORMAT_EXAMPLES)):
        schema = {"type": "string", "format": fmt}
        assert accepts(engine, schema, FORMAT_EXAMPLES[fmt]), (engine, fmt)
        assert not accepts(engine, schema, "a b !!"), (engine, fmt)


def test_check_schema_names_every_unenforced_keyword_with_its_path():
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 1, "multipleOf": 2},
            "tags": {
                "type": "array",
                "items": {"type": "string", "format": "ipv4"},
                "uniqueItems": True,
            },
        },
        "$defs": {"x": {"not": {"const": 1}}},
    }
    issues = {i.path: i.message for i in check_schema(schema, "outlines_core")}
    assert set(issues) == {
        "$.properties.n.minimum",
        "$.properties.n.multipleOf",
        "$.properties.tags.uniqueItems",
        "$.properties.tags.items.format",
        '$["$defs"].x.not',
    }
    assert "enforced by: xgrammar, llguidance" in issues["$.properties.n.minimum"]
    assert "no engine enforces it" in issues["$.properties.tags.uniqueItems"]
    assert "'ipv4'" in issues["$.properties.tags.items.format"]
    llg = {i.path for i in check_schema(schema, "llguidance")}
    assert llg == {"$.properties.tags.uniqueItems", '$["$defs"].x.not'}


def test_annotations_and_vendor_keys_pass_but_x_guidance_only_on_llguidance():
    schema = {"title": "T", "description": "d", "$comment": "c", "x-ui": 1, "type": "string"}
    for engine in ENGINES:
        assert check_schema(schema, engine) == []
    flagged = {**schema, "x-guidance": {"whitespace_flexible": False}}
    assert check_schema(flagged, "llguidance") == []
    assert [i.path for i in check_schema(flagged, "outlines_core")] == ['$["x-guidance"]']


def test_a_typo_is_refused_not_ignored():
    issues = check_schema({"type": "string", "maxLenght": 3}, "llguidance")
    assert [i.path for i in issues] == ["$.maxLenght"]


def test_building_a_constraint_with_an_unenforced_keyword_raises_naming_it():
    schema = {"type": "object", "properties": {"n": {"type": "integer", "maximum": 9}}}
    with pytest.raises(GrammarError) as err:
        json_constraint(schema, "outlines_core")
    assert "maximum" in str(err.value) and "$.properties.n.maximum" in str(err.value)
    assert [i.path for i in err.value.issues] == ["$.properties.n.maximum"]
    assert json_constraint(schema, "llguidance").engine == "llguidance"
    with pytest.raises(GrammarError, match="uniqueItems"):
        require_supported({"type": "array", "uniqueItems": True}, "llguidance")


def test_unknown_engine_is_an_error():
    with pytest.raises(GrammarError, match="unknown constraint engine 'vllm'"):
        check_schema({"type": "string"}, "vllm")
