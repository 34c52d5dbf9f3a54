"""Prompt templates: every shipped one renders, missing variables are named, overrides and
per-domain fallback work, and the prompts stay short in tokens."""

from __future__ import annotations

import pytest

from actions import get_domain
from prompts import TEMPLATES, PromptError, list_prompts, load_prompt

CANDIDATES = [
    {"label": "A", "title": "Kolya (1996)", "meta": "Comedy, Drama"},
    {"label": "B", "title": "Heat (1995)"},
]
VARIABLES = {
    "reasoner": {"context": "2024-03-02, Kolya (1996), Play", "candidates": CANDIDATES},
    "actions": {
        "lines": ["2024-03-01, Heat (1995), Preview", "2024-03-02, Kolya (1996), Play"],
        "n": 2,
        "codes": get_domain("streaming").describe(),
        "numbered": False,
    },
    "rewrite": {
        "history": "20240302, Saturday, 9 PM, ID: k, Kolya (1996), Play",
        "schema_hint": '{"summary": str, "aggregated_items": [...], "preferences": [...]}',
    },
    "zero_shot": {"history": "20240302, Saturday, 9 PM, ID: k, Kolya (1996), Play"},
}
DOMAINS = ["streaming", "ecommerce", "healthcare", "default"]


def test_the_four_prompts_ship():
    assert list_prompts() == ["actions", "reasoner", "rewrite", "zero_shot"]
    for domain in DOMAINS:
        assert list_prompts(domain) == sorted(VARIABLES)


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("name", sorted(VARIABLES))
def test_every_prompt_renders_its_variables(name, domain):
    prompt = load_prompt(name, domain)
    assert prompt.variables == set(VARIABLES[name])
    text = prompt.render(**VARIABLES[name])
    assert text == text.strip() and "{{" not in text and "{%" not in text
    for value in VARIABLES[name].values():
        if isinstance(value, str):
            assert value in text


def test_reasoner_prompt_exact_text():
    text = load_prompt("reasoner", "streaming").render(
        context="line 1\nline 2", candidates=CANDIDATES
    )
    assert text == (
        "A viewer's history, oldest first:\n"
        "line 1\nline 2\n\n"
        "Which title will they watch next?\n"
        "A. Kolya (1996) (Comedy, Drama)\n"
        "B. Heat (1995)\n"
        "Answer with one letter."
    )


def test_actions_prompt_numbers_the_lines():
    text = load_prompt("actions", "default").render(lines=["x", "y", "z"], n=3, codes="keep: k")
    assert text == (
        "Choose one code for each of the 3 history lines below.\n"
        "Codes:\nkeep: k\n\n"
        "1. x\n2. y\n3. z\n\n"
        "Answer with a JSON array of exactly 3 codes, in line order."
    )


def test_numbered_actions_prompt_asks_for_line_numbers():
    text = load_prompt("actions", "default").render(
        lines=["x", "y"], n=2, codes="keep: k", numbered=True
    )
    assert text.endswith(
        "1. x\n2. y\n\nAnswer with a JSON object mapping each line number, 1 to 2, to its code."
    )


def test_empty_history_is_said_not_left_blank():
    text = load_prompt("reasoner", "healthcare").render(context="", candidates=CANDIDATES)
    assert "(no history)" in text


@pytest.mark.parametrize(("name", "missing"), [("reasoner", "candidates"), ("actions", "n")])
def test_a_missing_variable_is_named(name, missing):
    variables = {k: v for k, v in VARIABLES[name].items() if k != missing}
    with pytest.raises(PromptError, match=f"'{missing}' is undefined") as info:
        load_prompt(name, "streaming").render(**variables)
    assert f"prompt {name!r}" in str(info.value)
    assert "it reads: " + ", ".join(sorted(VARIABLES[name])) in str(info.value)


def test_per_domain_templates_fall_back_to_default():
    assert load_prompt("reasoner", "streaming").source == str(TEMPLATES / "streaming/reasoner.j2")
    assert load_prompt("rewrite", "streaming").source == str(TEMPLATES / "default/rewrite.j2")
    assert load_prompt("actions", "music").source == str(TEMPLATES / "default/actions.j2")


def test_path_to_a_file_overrides(tmp_path):
    path = tmp_path / "mine.j2"
    path.write_text("Q: {{ context }}\n{% for c in candidates %}{{ c.label }}{% endfor %}\n")
    prompt = load_prompt("reasoner", "streaming", path=path)
    assert prompt.source == str(path)
    assert prompt.render(context="ctx", candidates=CANDIDATES) == "Q: ctx\nAB"


def test_a_user_file_may_extend_a_builtin(tmp_path):
    path = tmp_path / "r.j2"
    path.write_text(
        '{% extends "default/reasoner.j2" %}{% block question %}Next film?{% endblock %}'
    )
    text = load_prompt("reasoner", path=path).render(context="c", candidates=CANDIDATES)
    assert "Next film?" in text and text.endswith("Answer with one letter.")


def test_path_to_a_folder_is_searched_by_domain_then_falls_back(tmp_path):
    (tmp_path / "streaming").mkdir()
    (tmp_path / "streaming" / "zero_shot.j2").write_text("S {{ history }}")
    (tmp_path / "zero_shot.j2").write_text("D {{ history }}")
    assert load_prompt("zero_shot", "streaming", path=tmp_path).render(history="h") == "S h"
    assert load_prompt("zero_shot", "ecommerce", path=tmp_path).render(history="h") == "D h"
    builtin = load_prompt("reasoner", "streaming", path=tmp_path)
    assert builtin.source == str(TEMPLATES / "streaming/reasoner.j2")


def test_unknown_names_and_paths_are_errors(tmp_path):
    with pytest.raises(PromptError, match=r"no prompt 'nope'.*built-in prompts: actions, reasoner"):
        load_prompt("nope")
    with pytest.raises(PromptError, match="no such file or folder"):
        load_prompt("reasoner", path=tmp_path / "missing.j2")


def test_syntax_errors_name_file_and_line(tmp_path):
    path = tmp_path / "bad.j2"
    path.write_text("ok\n{% for x in %}\n")
    with pytest.raises(PromptError, match=r"bad.j2:2: "):
        load_prompt("reasoner", path=path)


def test_prompts_are_short_in_tokens(tokenizer):
    """Fixed overhead (everything but the variables' own text), counted with the real
    tokenizer: every prompt token costs a 135M model on CPU."""
    empty = {
        "reasoner": {"context": "x", "candidates": []},
        "actions": {"lines": [], "n": 0, "codes": "x"},
        "rewrite": {"history": "x", "schema_hint": "x"},
        "zero_shot": {"history": "x"},
    }
    for domain in DOMAINS:
        for name, variables in empty.items():
            text = load_prompt(name, domain).render(**variables)
            assert len(tokenizer.encode(text, add_special_tokens=False)) <= 60, (name, domain)


def test_doctests():
    import doctest

    import prompts
    import prompts.loader

    for module in (prompts, prompts.loader):
        assert doctest.testmod(module).failed == 0
