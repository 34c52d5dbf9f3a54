"""Everything vtk ships for domains loads and validates: the built-in domains, every domain
folder under examples/, every built-in grammar in every domain, every prompt template."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from actions.domains import get_domain
from actions.domains.base import _BUILTINS
from actions.domains.check import check_folder
from grammars import get_grammar
from grammars.shapes import shape_for
from prompts import TEMPLATES, load_prompt
from prompts.variables import PROVIDED
from toolkit.records import Catalog, History, Interaction, Item

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = sorted(p.parent for p in (ROOT / "examples").rglob("domain.yaml"))
PROMPTS = sorted(TEMPLATES.rglob("*.j2"))
SAMPLE = {
    "actions": {"lines": ["a", "b"], "n": 2, "codes": "keep: keep the line"},
    "reasoner": {"context": "x", "candidates": [{"label": "A", "title": "T"}]},
    "rewrite": {"history": "x", "schema_hint": "{}"},
    "zero_shot": {"history": "x"},
}


pytestmark = pytest.mark.usefixtures("no_folder_domains")


def test_examples_ship_a_domain_folder():
    assert [f.name for f in FOLDERS] == ["bookshop"]


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_every_domain_folder_checks_clean(folder):
    report = check_folder(folder)
    assert report.ok, report.errors
    assert not report.warnings, report.warnings


def catalog_and_history() -> tuple[Catalog, History]:
    kinds = ("encounter", "condition", "medication", "purchase", "play")
    catalog = Catalog(
        [
            Item(item_id="g1", title="Halo 3 - Xbox 360", genres=("Shooter",)),
            Item(item_id="g2", title="Halo: Reach - Xbox 360"),
            Item(item_id="g3", title="Controller Charging Cable - Xbox 360"),
            Item(item_id="encounter:1", title="Check up", attrs={"kind": "encounter"}),
            Item(item_id="condition:2", title="Asthma", attrs={"kind": "condition"}),
            Item(item_id="medication:3", title="Inhaler", attrs={"kind": "medication"}),
        ]
    )
    t0 = datetime(2024, 1, 1)
    xs = []
    for i, (item, event) in enumerate(
        [
            ("g1", "purchase"),
            ("g2", "purchase"),
            ("g3", "purchase"),
            ("encounter:1", "encounter"),
            ("condition:2", "condition"),
            ("medication:3", "medication"),
            ("g1", "play"),
        ]
    ):
        attrs = {"active": "yes"} if event == "medication" else {}
        xs.append(
            Interaction(timestamp=t0 + timedelta(days=i), item_id=item, event=event, attrs=attrs)
        )
    assert {x.event for x in xs} <= set(kinds)
    return catalog, History(user_id="u", interactions=tuple(xs))


@pytest.mark.parametrize("name", _BUILTINS)
def test_every_built_in_domain_builds_its_grammars_and_heuristic_outputs(name):
    from toolkit.verbalizers.heuristic import HeuristicActionsVerbalizer, HeuristicRewriteVerbalizer

    domain = get_domain(name)
    catalog, history = catalog_and_history()
    for role, verbalizer in (
        ("plan", HeuristicActionsVerbalizer(domain=name)),
        ("rewrite", HeuristicRewriteVerbalizer(domain=name)),
    ):
        grammar = get_grammar(domain.grammar(role))
        if role == "plan":
            from grammars.base import GrammarContext

            ctx = GrammarContext(n_interactions=len(history), domain=name)
        else:
            ctx = shape_for(domain.grammar(role)).context(history, catalog, domain)
        constraint = grammar.constraint(ctx)
        assert constraint.max_tokens > 1
        output = verbalizer.target(history, catalog)
        assert grammar.validate(output, ctx) == [], (name, role, output)
        assert verbalizer.verbalize(history, catalog).valid


@pytest.mark.parametrize("path", PROMPTS, ids=lambda p: p.relative_to(TEMPLATES).as_posix())
def test_every_built_in_prompt_renders_with_what_its_caller_provides(path):
    name, folder = path.stem, path.parent.name
    assert name in PROVIDED, f"{path}: no caller renders a prompt named {name!r}"
    domain = "streaming" if folder == "default" else folder
    prompt = load_prompt(name, domain)
    assert prompt.variables <= PROVIDED[name], prompt.variables - PROVIDED[name]
    assert prompt.render(**SAMPLE[name])


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_every_folder_prompt_renders(folder, monkeypatch):
    from actions.domains.folder import PATH_VARIABLE

    monkeypatch.setenv(PATH_VARIABLE, str(folder))
    domain = get_domain(folder.name)
    for path in sorted((folder / "prompts").glob("*.j2")):
        prompt = load_prompt(path.stem, domain.name)
        assert prompt.source == str(path.resolve())
        assert prompt.render(**SAMPLE[path.stem])
