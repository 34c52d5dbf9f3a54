"""Domain folders: ``domain.yaml`` becomes a ``Domain``, found by name on the path or by
path; every problem of the file is reported at once with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from actions import Aggregate, Annotate, Drop, Enrich, Keep, execute, get_domain
from actions.domains import domain_names
from actions.domains.folder import PATH_VARIABLE, load_folder
from toolkit.errors import ConfigError
from toolkit.records import Catalog, History, Interaction, Item

ROOT = Path(__file__).resolve().parents[2]
BOOKSHOP = ROOT / "examples" / "tutorial-domain" / "bookshop"


pytestmark = pytest.mark.usefixtures("no_folder_domains")


def test_the_tutorial_folder_becomes_a_domain():
    d = load_folder(BOOKSHOP)
    assert d.name == "bookshop" and d.origin == str(BOOKSHOP.resolve())
    assert d.codes == {
        "keep": (Keep(),),
        "skip": (Drop(),),
        "about": (Keep(), Enrich(("genres", "author"))),
        "same_author": (Aggregate("author"),),
        "bought": (Keep(), Annotate("bought")),
    }
    assert d.grammar("rewrite") == "bookshop/reading_profile"
    assert d.grammar("plan") == "action_plan"
    assert d.wording("return") == "Returned" and d.wording("gift_wrap") == "Gift Wrap"
    assert d.prompts == str((BOOKSHOP / "prompts").resolve())


def test_found_by_name_on_the_path_and_by_path(monkeypatch):
    monkeypatch.setenv(PATH_VARIABLE, str(BOOKSHOP.parent))
    assert "bookshop" in domain_names()
    assert get_domain("bookshop").codes["skip"] == (Drop(),)
    monkeypatch.delenv(PATH_VARIABLE)
    assert get_domain(str(BOOKSHOP)).name == "bookshop"


def test_wording_and_critical_rules_of_a_folder_domain_run():
    d = load_folder(BOOKSHOP, register=False)
    catalog = Catalog([Item(item_id="b1", title="Dune", attrs={"author": "Herbert"})])
    xs = (Interaction(item_id="b1", event="view"), Interaction(item_id="b1", event="return"))
    out = execute(((Drop(),), (Drop(),)), History(user_id="u", interactions=xs), catalog, d)
    assert out.text == "Dune, Returned"  # the return is critical: kept as recorded


def write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "domain.yaml").write_text(text, encoding="utf-8")
    return folder


BAD = (
    "name: shop\n"
    "codes:\n"
    "  keep: [keep]\n"
    "  zap: [explode]\n"
    "  info: [keep, {enrich: [colour]}]\n"
    "enrich_fields: [brand]\n"
    "terms: [keep, drop, enrich, teleport]\n"
)


def test_every_problem_at_once_with_line_and_field(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_folder(write(tmp_path / "a", BAD + "colour: red\n"))
    assert "domain.yaml:8: colour: Extra inputs are not permitted" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_folder(write(tmp_path / "b", BAD))
    text = str(err.value)
    assert "domain.yaml:4: codes.zap.0: unknown term 'explode'" in text
    assert "domain.yaml:7: terms: unknown term 'teleport'" in text
    assert text.splitlines()[0] == "2 problem(s):"


def test_semantic_problems_of_the_codes_are_reported(tmp_path):
    folder = write(
        tmp_path / "shop",
        "name: shop\ncodes:\n  keep: [keep]\n  info: [keep, {enrich: [colour]}]\n"
        "  merge: [{aggregate: shelf}]\nenrich_fields: [brand]\n",
    )
    with pytest.raises(ConfigError) as err:
        load_folder(folder)
    text = str(err.value)
    assert "unknown enrich field 'colour'" in text and "unknown aggregate key 'shelf'" in text


def test_unreadable_yaml_names_its_line(tmp_path):
    folder = write(tmp_path / "broken", "name: shop\ncodes: [keep\n")
    with pytest.raises(ConfigError, match=r"domain.yaml:\d+: invalid YAML"):
        load_folder(folder)


def test_a_folder_cannot_replace_a_built_in(tmp_path):
    folder = write(tmp_path / "s", "name: streaming\ncodes:\n  keep: [keep]\n")
    with pytest.raises(ConfigError, match="built-in domain"):
        load_folder(folder)


def test_a_folder_schema_has_no_rule_based_rewrite():
    from toolkit.verbalizers.heuristic import HeuristicRewriteVerbalizer

    domain = load_folder(BOOKSHOP)
    catalog = Catalog([Item(item_id="b1", title="Dune")])
    history = History(user_id="u", interactions=(Interaction(item_id="b1", event="view"),))
    with pytest.raises(ConfigError, match="'bookshop/reading_profile' has no rule-based rewrite"):
        HeuristicRewriteVerbalizer(domain=domain.name).target(history, catalog)
