"""Validation reports every issue, each with a JSON path and a short message."""

from __future__ import annotations

import pytest

from grammars.validation import json_path, parse_json, schema_issues, schema_problems


def test_json_path_quotes_keys_that_are_not_identifiers():
    assert json_path([]) == "$"
    assert json_path(["a", 0, "b c", "$ref"]) == '$.a[0]["b c"]["$ref"]'


@pytest.mark.parametrize(
    "text,fragment",
    [
        ('{"a": [1, 2', "ends before the value is complete"),
        ('{"a": "unterminated', "ends before the value is complete"),
        ('{"a": 1} trailing', "Extra data at character 9"),
        ('{"a": NaN}', "NaN is not valid JSON"),
        ("", "ends before the value is complete"),
    ],
)
def test_parse_json_explains_failures(text, fragment):
    value, issues = parse_json(text)
    assert value is None and len(issues) == 1
    assert issues[0].path == "$" and fragment in issues[0].message


def test_schema_issues_lists_all_in_document_order():
    schema = {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "maxItems": 12,
                "items": {"type": "object", "properties": {"n": {"type": "integer", "maximum": 9}}},
            },
            "s": {"type": "string", "maxLength": 3},
        },
        "required": ["s", "items"],
    }
    value = {"items": [{"n": 1}] * 2 + [{"n": 10}] + [{"n": 1}] * 7 + [{"n": "x"}], "s": "long"}
    issues = [str(i) for i in schema_issues(value, schema)]
    assert issues == [
        "$.items[2].n: 10 is greater than the maximum of 9",
        '$.items[10].n: expected type "integer", got "x"',
        "$.s: expected at most 3 characters, got 4",
    ]


def test_messages_stay_short_for_long_values():
    schema = {
        "type": "array",
        "items": {"enum": [f"code{i}" for i in range(40)]},
        "minItems": 50,
        "maxItems": 50,
    }
    issues = schema_issues(["code1"] * 49 + ["zzz"], schema)
    by_path = {i.path: i.message for i in issues}
    assert list(by_path) == ["$[49]"]
    assert by_path["$[49]"].startswith('"zzz" is not one of: "code0"')
    assert "(40 allowed)" in by_path["$[49]"]
    assert all(len(str(i)) < 200 for i in issues)


def test_wrong_length_and_unknown_item():
    schema = {"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 3, "maxItems": 3}
    issues = [str(i) for i in schema_issues(["a", "c"], schema)]
    assert issues == ["$: expected exactly 3 items, got 2", '$[1]: "c" is not one of: "a", "b"']


def test_schema_problems_checks_the_meta_schema():
    assert schema_problems({"type": "string", "maxLength": 3}) == []
    problems = schema_problems({"type": "object", "properties": {"a": {"maxLength": -1}}})
    assert [p.path for p in problems] == ["$.properties.a.maxLength"]
    assert schema_problems([1])[0].message.startswith("a JSON Schema is an object")
