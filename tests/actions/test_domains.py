"""Domains: the built-ins, their code descriptions, registry lookups, self-checks."""

from __future__ import annotations

import pytest

from actions import ActionError, Aggregate, Annotate, Domain, Drop, Enrich, Keep, execute
from actions.domains import DOMAINS, get_domain
from actions.terms import TERMS
from toolkit.errors import UnknownNameError

from .conftest import make_catalog, make_history

USER_DOMAIN = Domain(
    name="music",
    codes={"keep": (Keep(),), "skip": (Drop(),), "album": (Aggregate("album"),)},
    enrich_fields=("genres",),
    aggregate_keys=("item", "album"),
    terms=(Keep, Drop, Aggregate),
    default_code="keep",
)


@pytest.mark.parametrize("name", ["streaming", "ecommerce", "healthcare"])
def test_builtins_are_registered_and_small(name):
    domain = get_domain(name)
    assert domain.name == name
    assert 4 <= len(domain.codes) <= 6
    assert domain.default_code in domain.codes
    assert set(domain.terms) <= set(TERMS)
    assert name in DOMAINS


@pytest.mark.parametrize("name", ["streaming", "ecommerce", "healthcare"])
def test_every_code_runs_on_a_history(name):
    domain = get_domain(name)
    history, catalog = make_history(), make_catalog()
    for code, step in domain.codes.items():
        out = execute((step,) * len(history), history, catalog, domain)
        assert out.valid, code
        if code == "drop":
            assert out.text == ""
        else:
            assert out.text, code


def test_describe_lists_every_code_with_its_meaning():
    assert get_domain("streaming").describe() == (
        "keep: keep the line\n"
        "drop: remove the line\n"
        "enrich: keep the line + add genres\n"
        "tags: keep the line + add tags\n"
        "series: merge with neighbouring lines of the same series\n"
        'liked: keep the line + mark "liked"'
    )
    for name in ("ecommerce", "healthcare"):
        domain = get_domain(name)
        lines = domain.describe().splitlines()
        assert [line.split(":")[0] for line in lines] == list(domain.codes)


def test_domains_hash_by_value():
    copy = Domain(**{f: getattr(USER_DOMAIN, f) for f in USER_DOMAIN.__dataclass_fields__})
    assert copy == USER_DOMAIN and hash(copy) == hash(USER_DOMAIN)
    assert len({get_domain("streaming"), get_domain("streaming"), USER_DOMAIN}) == 2


def test_get_domain_names_the_known_ones():
    with pytest.raises(UnknownNameError, match="known: ecommerce, healthcare, streaming"):
        get_domain("music")


def test_user_domain_by_object_and_dotted_path():
    assert get_domain(USER_DOMAIN) is USER_DOMAIN
    assert get_domain("tests.actions.test_domains:USER_DOMAIN") is USER_DOMAIN


def test_a_dotted_path_to_something_else_is_refused():
    with pytest.raises(ActionError, match="is not an action Domain"):
        get_domain("actions.terms:Keep")


def test_a_domain_checks_its_codes_at_construction():
    with pytest.raises(ActionError) as info:
        Domain(
            name="bad",
            codes={
                "keep": (Keep(),),
                "note": (Keep(), Annotate("x")),
                "more": (Keep(), Enrich("price")),
            },
            enrich_fields=("genres",),
            aggregate_keys=("item",),
            terms=(Keep, Drop, Enrich),
            default_code="skip",
        )
    assert info.value.problems == [
        "domain 'bad': default code 'skip' is not one of its codes (keep, note, more)",
        "domain 'bad', code 'note': term Annotate is not allowed in domain 'bad'; "
        "allowed: Keep, Drop, Enrich",
        "domain 'bad', code 'more': unknown enrich field 'price' in domain 'bad'; allowed: genres",
    ]


def test_user_domain_aggregates_by_its_own_key():
    from toolkit.records import Catalog, History, Interaction, Item

    catalog = Catalog(
        [Item(item_id=str(i), title=f"Song {i}", attrs={"album": "Blue"}) for i in range(3)]
    )
    xs = tuple(Interaction(item_id=str(i), event="listen", duration=3.0) for i in range(3))
    out = execute(
        (USER_DOMAIN.codes["album"],) * 3,
        History(user_id="u", interactions=xs),
        catalog,
        USER_DOMAIN,
    )
    assert out.text == "Blue (Song 0, Song 1, Song 2): 3 times, Listen, 9 min"
