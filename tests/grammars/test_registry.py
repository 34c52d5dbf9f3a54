"""Finding grammars: registered names, entry points, dotted paths, files; user grammars."""

from __future__ import annotations

import json
import textwrap
from importlib.metadata import EntryPoint

import pytest

from grammars import GRAMMARS, GrammarContext, GrammarError, get_grammar
from grammars.action_plan import ActionPlanGrammar
from grammars.text import ChoiceListGrammar, LarkGrammar, RegexGrammar
from grammars.user import FileGrammar, PydanticGrammar, SchemaGrammar
from toolkit.errors import InputError, UnknownNameError

USER_MODULE = '''
from pydantic import BaseModel, Field, field_validator

from grammars.base import Constraint, Grammar, ValidationIssue
from grammars.text import ChoiceListGrammar


class Review(BaseModel):
    """A one-line review."""

    stars: int = Field(ge=1, le=5)
    text: str = Field(max_length=40)

    @field_validator("text")
    @classmethod
    def no_shouting(cls, value):
        if value.isupper():
            raise ValueError("no shouting")
        return value


class Yes(Grammar):
    name = "yes"

    def constraint(self, ctx):
        return Constraint("regex", "yes", "outlines_core", 2)

    def validate(self, text, ctx=None):
        return [] if text == "yes" else [ValidationIssue("$", "say yes")]


YESNO = ChoiceListGrammar(["yes", "no"], name="yesno")
NOT_A_GRAMMAR = 42
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "vtk_user_grammars.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path / "vtk_user_grammars.py"


def test_builtin_names_resolve():
    assert isinstance(get_grammar("action_plan"), ActionPlanGrammar)
    assert {"action_plan", "rewrite", "choice", "choice_index"} <= set(GRAMMARS.names())


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownNameError, match="known: action_plan, choice"):
        get_grammar("acton_plan")


def test_dotted_paths_to_a_subclass_an_instance_and_a_pydantic_model(user_module):
    assert get_grammar("vtk_user_grammars:Yes").validate("yes") == []
    yesno = get_grammar("vtk_user_grammars:YESNO")
    assert yesno.parse("no") == "no" and yesno.constraint(GrammarContext()).spec == '["yes","no"]'
    review = get_grammar("vtk_user_grammars:Review")
    assert isinstance(review, PydanticGrammar) and review.description == "A one-line review."
    constraint = review.constraint(GrammarContext())
    assert constraint.kind == "json_schema" and constraint.engine == "llguidance"
    assert review.parse('{"stars": 4, "text": "fine"}').stars == 4
    assert [str(i) for i in review.validate('{"stars": 9, "text": "fine"}')] == [
        "$.stars: 9 is greater than the maximum of 5"
    ]
    issues = review.validate('{"stars": 2, "text": "BAD"}')  # the model's own validator
    assert [i.path for i in issues] == ["$.text"] and "no shouting" in issues[0].message


def test_file_py_attr_path(user_module):
    assert get_grammar(f"{user_module}:Yes").validate("no")[0].message == "say yes"


def test_a_dotted_path_to_something_else_is_an_error(user_module):
    with pytest.raises(GrammarError, match="not a grammar"):
        get_grammar("vtk_user_grammars:NOT_A_GRAMMAR")


def test_entry_point(monkeypatch):
    import toolkit.registry

    point = EntryPoint("plan_alias", "grammars.action_plan:ActionPlanGrammar", "vtk.grammars")
    monkeypatch.setattr(
        toolkit.registry, "entry_points", lambda group: [point] if group == "vtk.grammars" else []
    )
    try:
        assert isinstance(get_grammar("plan_alias"), ActionPlanGrammar)
        assert "plan_alias" in GRAMMARS.names()
    finally:
        GRAMMARS._items.pop("plan_alias", None)


def test_a_registered_name_is_found_without_scanning_entry_points(monkeypatch):
    """``name in registry`` is asked per interaction (``get_domain`` in the rewrite rules):
    scanning the installed entry points there made a rule-based rewrite 100x slower."""
    import toolkit.registry
    from actions.domains.base import DOMAINS, get_domain

    get_domain("streaming")  # the built-ins are registered

    def scan(group):
        raise AssertionError(f"entry points of {group} scanned for a registered name")

    monkeypatch.setattr(toolkit.registry, "entry_points", scan)
    assert "streaming" in DOMAINS and "action_plan" in GRAMMARS
    assert get_domain("streaming").name == "streaming"
    with pytest.raises(AssertionError, match="scanned"):  # an unknown name still looks there
        assert "not_registered" not in DOMAINS


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


def test_json_schema_file_with_settings(tmp_path):
    path = tmp_path / "label.json"
    path.write_text(
        json.dumps(
            {
                "x-vtk": {"engine": "outlines_core", "max_tokens": 40, "description": "a label"},
                "type": "object",
                "properties": {"label": {"enum": ["spam", "ham"]}},
                "required": ["label"],
                "additionalProperties": False,
            }
        )
    )
    grammar = get_grammar(str(path))
    assert isinstance(grammar, FileGrammar) and grammar.description == "a label"
    constraint = grammar.constraint(GrammarContext())
    assert (constraint.engine, constraint.max_tokens) == ("outlines_core", 40)
    assert "x-vtk" not in constraint.spec
    assert grammar.validate('{"label": "ham"}') == []
    assert grammar.validate('{"label": "eggs"}')[0].path == "$.label"


def test_json_schema_file_bound_sets_the_budget(tmp_path):
    path = tmp_path / "yn.json"
    path.write_text(json.dumps({"enum": ["yes", "no"]}))
    constraint = get_grammar(str(path)).constraint(GrammarContext())
    assert constraint.engine == "llguidance" and constraint.max_tokens == len('"yes"') + 1


def test_json_schema_file_with_an_unenforced_keyword_fails_at_constraint(tmp_path):
    path = tmp_path / "u.json"
    path.write_text(
        json.dumps({"type": "array", "items": {"type": "integer"}, "uniqueItems": True})
    )
    with pytest.raises(GrammarError, match=r"uniqueItems.*\n.*\$\.uniqueItems"):
        get_grammar(str(path)).constraint(GrammarContext())


def test_bad_json_file_names_file_and_line(tmp_path):
    path = write(tmp_path / "bad.json", '{\n  "type": "string",\n  oops\n}\n')
    with pytest.raises(InputError, match=r"bad\.json:3"):
        get_grammar(str(path))
    with pytest.raises(InputError, match="not found"):
        get_grammar(str(tmp_path / "missing.json"))


def test_invalid_schema_lists_meta_schema_problems():
    with pytest.raises(GrammarError, match=r"\$\.maxLength"):
        SchemaGrammar({"type": "string", "maxLength": "three"})


def test_lark_file(tmp_path):
    path = write(
        tmp_path / "rating.lark",
        """
        start: "rating: " DIGIT "/5"
        DIGIT: /[1-5]/
        """,
    )
    grammar = get_grammar(str(path))
    assert isinstance(grammar, LarkGrammar)
    constraint = grammar.constraint(GrammarContext())
    assert constraint.kind == "cfg" and constraint.engine == "llguidance"
    assert grammar.validate("rating: 4/5") == []
    assert "at character 8" in grammar.validate("rating: 9/5")[0].message
    assert "ends before" in grammar.validate("rating: 4")[0].message


def test_invalid_lark_is_refused(tmp_path):
    path = write(tmp_path / "bad.lark", "start: missing_rule\n")
    with pytest.raises(GrammarError, match="invalid Lark grammar"):
        get_grammar(str(path))


def test_regex_file(tmp_path):
    grammar = get_grammar(str(write(tmp_path / "year.regex", r"(19|20)\d\d" + "\n")))
    assert isinstance(grammar, RegexGrammar)
    assert grammar.constraint(GrammarContext()).spec == r"(19|20)\d\d"
    assert grammar.validate("1999") == [] and grammar.validate("199")[0].path == "$"
    with pytest.raises(GrammarError, match="invalid regex"):
        RegexGrammar("(")


def test_choice_list_needs_strings():
    with pytest.raises(GrammarError):
        ChoiceListGrammar([])
