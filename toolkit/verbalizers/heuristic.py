"""Rule-based verbalizations: a sensible starting policy and the warm-start targets.

``heuristic_actions`` writes an action plan from what any log shows (event, duration,
repeats), never from a source's hidden labels: drop very short plays (autoplay previews,
abandoned starts) and what the domain calls noise (accessories), merge runs that share the
aggregate code's key (binge-watched series, one franchise), mark liked items and enrich
the rest with catalog metadata. Codes are found by role in the domain (the code whose
step is a Drop, an Aggregate, an Annotate, an Enrich), so every domain works.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from toolkit.records import Catalog, History
from toolkit.verbalizers.base import VERBALIZERS, Verbalization, Verbalizer

POSITIVE_EVENTS = frozenset({"thumb_up", "add_to_list", "like", "purchase"})


@dataclass(frozen=True)
class ActionRules:
    """Thresholds of the rule-based plan (minutes)."""

    preview_minutes: float = 1.0
    abandoned_minutes: float = 8.0


def _role_codes(domain: str) -> dict[str, str]:
    from actions import Aggregate, Annotate, Drop, Enrich, get_domain

    dom = get_domain(domain)
    roles = {"keep": dom.default_code}
    for code, step in dom.codes.items():
        kinds = {type(t) for t in step}
        if Drop in kinds:
            roles.setdefault("drop", code)
        elif Aggregate in kinds:
            roles.setdefault("aggregate", code)
        elif Annotate in kinds:
            roles.setdefault("liked", code)
        elif Enrich in kinds:
            roles.setdefault("enrich", code)
    return roles


def heuristic_codes(
    history: History,
    domain: str = "streaming",
    rules: ActionRules = ActionRules(),
    catalog: Catalog | None = None,
) -> list[str]:
    """One code per interaction by the rules above.

    >>> from toolkit.records import History, Interaction
    >>> h = History(user_id="u", interactions=(
    ...     Interaction(item_id="a", event="play", duration=0.2),
    ...     Interaction(item_id="s", event="play", duration=40.0),
    ...     Interaction(item_id="s", event="play", duration=42.0),
    ...     Interaction(item_id="b", event="thumb_up")))
    >>> heuristic_codes(h)
    ['drop', 'series', 'series', 'liked']
    """
    from actions import get_domain
    from actions.executor import group_keys

    roles = _role_codes(domain)
    dom = get_domain(domain)
    xs = history.interactions
    keys = (
        group_keys(dom.codes[roles["aggregate"]], history, catalog, dom)
        if ("aggregate" in roles and catalog is not None)
        else [x.item_id for x in xs]
    )
    noise = _noise(history, catalog, dom)
    codes = []
    for i, x in enumerate(xs):
        key = keys[i]
        same_as_neighbour = key is not None and (
            (i > 0 and keys[i - 1] == key) or (i + 1 < len(xs) and keys[i + 1] == key)
        )
        short = x.duration is not None and x.duration < rules.abandoned_minutes
        if (short or i in noise) and "drop" in roles:
            codes.append(roles["drop"])
        elif same_as_neighbour and "aggregate" in roles:
            codes.append(roles["aggregate"])
        elif x.event in POSITIVE_EVENTS and "liked" in roles:
            codes.append(roles["liked"])
        else:
            codes.append(roles.get("enrich", roles["keep"]))
    return codes


def _noise(history: History, catalog: Catalog | None, domain) -> set[int]:
    from actions.executor import reader

    if not domain.noise or catalog is None:
        return set()
    read = reader(domain)
    return {
        i
        for i, x in enumerate(history.interactions)
        if any(rule.matches(x, catalog.get(x.item_id), read) for rule in domain.noise)
    }


@VERBALIZERS.register("heuristic_actions")
class HeuristicActionsVerbalizer(Verbalizer):
    """The rule-based action plan, run by the executor."""

    name = "heuristic_actions"

    def __init__(self, tokenizer=None, *, domain: str = "streaming", **_: object):
        super().__init__(tokenizer)
        self.domain = domain

    def target(self, history: History, catalog: Catalog) -> str:
        """The plan as the JSON the ``action_plan`` grammar accepts (warm-start target)."""
        from grammars.action_plan import array_text

        return array_text(heuristic_codes(history, self.domain, catalog=catalog))

    def verbalize_batch(
        self, histories: Sequence[History], catalog: Catalog
    ) -> list[Verbalization]:
        from toolkit.verbalizers.actions import plan_to_verbalization

        return [
            plan_to_verbalization(self.target(h, catalog), h, catalog, self.domain, self.tokenizer)
            for h in histories
        ]


POSITIVE_SIGNAL = "liked"


@dataclass
class TitleStats:
    """What the rule-based rewrite reads from a history, per title it counts."""

    counts: Counter[str]
    signal: dict[str, str]
    last: dict[str, int]
    liked_aspects: Counter[str]
    disliked_aspects: Counter[str]

    def ranked(self) -> list[str]:
        """Counted titles, liked first, then most recent first (the rewrite's item order)."""
        return sorted(self.counts, key=lambda t: (-(self.signal[t] == "liked"), -self.last[t]))


def title_stats(
    history: History, catalog: Catalog, rules: ActionRules = ActionRules(), *, domain: str
) -> TitleStats:
    """Counts, last signal and aspects of the titles the rules keep: the history's 30 most
    recent titles (the grammar's enumeration), abandoned views skipped."""
    from grammars.rewrite import TITLES_MAX
    from toolkit.verbalizers.rewrite import aspects_of, history_titles

    allowed = set(history_titles(history, catalog)[:TITLES_MAX])
    stats = TitleStats(Counter(), {}, {}, Counter(), Counter())
    for i, x in enumerate(history.interactions):
        item = catalog.get(x.item_id)
        if item is None:
            continue
        if x.duration is not None and x.duration < rules.abandoned_minutes:
            continue
        title = item.display_title
        if title not in allowed:
            continue
        stats.counts[title] += 1
        stats.last[title] = i
        if x.event in POSITIVE_EVENTS:
            stats.signal[title] = "liked"
            stats.liked_aspects.update(aspects_of(item, domain, genres_only=True))
        elif x.event in ("thumb_down", "dislike"):
            stats.signal[title] = "disliked"
            stats.disliked_aspects.update(aspects_of(item, domain, genres_only=True))
        else:
            stats.signal.setdefault(title, "watched")
    return stats


def rewrite_title_order(
    history: History, catalog: Catalog, *, domain: str = "streaming"
) -> list[str]:
    """The history's 30 most recent titles in the order the rewrite grammar writes items:
    the rules' ranking (liked first, then most recent) and after it the titles the rules
    skip, most recent first. The rule-based rewrite's items are always a prefix of it."""
    from grammars.rewrite import TITLES_MAX
    from toolkit.verbalizers.rewrite import history_titles

    ranked = title_stats(history, catalog, domain=domain).ranked()
    seen = set(ranked)
    return ranked + [t for t in history_titles(history, catalog)[:TITLES_MAX] if t not in seen]


def heuristic_rewrite(
    history: History,
    catalog: Catalog,
    rules: ActionRules = ActionRules(),
    *,
    domain: str = "streaming",
) -> dict:
    """A rule-based rewrite (as the ``rewrite`` grammar's JSON object): the most watched or
    liked titles, most recent first, and the aspects (the domain's ``aspect_fields``:
    genres, a game's franchise) of liked items as preferences."""
    from grammars.rewrite import ASPECTS_MAX, ITEMS_MAX, PREFERENCES_MAX, SUMMARY_MAX
    from toolkit.verbalizers.rewrite import history_aspects

    allowed_aspects = set(history_aspects(history, catalog, domain)[:ASPECTS_MAX])
    stats = title_stats(history, catalog, rules, domain=domain)
    recent = stats.ranked()[:ITEMS_MAX]
    likes = [a for a, _ in stats.liked_aspects.most_common() if a in allowed_aspects][:3]
    dislikes = [
        a
        for a, _ in stats.disliked_aspects.most_common()
        if a in allowed_aspects and a not in likes
    ][:2]
    prefs = [{"aspect": a, "polarity": "likes"} for a in likes]
    prefs += [{"aspect": a, "polarity": "dislikes"} for a in dislikes]
    summary = "Likes " + ", ".join(likes) if likes else "Mixed history"
    return {
        "summary": summary[:SUMMARY_MAX],
        "aggregated_items": [
            {"title": t, "count": min(stats.counts[t], 99), "signal": stats.signal[t]}
            for t in recent
        ],
        "preferences": prefs[:PREFERENCES_MAX],
    }


@VERBALIZERS.register("heuristic_rewrite")
class HeuristicRewriteVerbalizer(Verbalizer):
    """The rule-based rewrite, rendered like the LLM's."""

    name = "heuristic_rewrite"

    def __init__(self, tokenizer=None, *, domain: str = "streaming", **_: object):
        super().__init__(tokenizer)
        self.domain = domain

    def target(self, history: History, catalog: Catalog) -> str:
        """The rule-based output of the domain's rewrite shape (``rewrite``,
        ``clinical_summary``)."""
        from actions import get_domain
        from grammars.shapes import shape_for

        domain = get_domain(self.domain)
        value = shape_for(domain.grammar("rewrite")).heuristic(history, catalog, domain)
        # raw UTF-8, as the constrained decoder writes it: a warm-start target it can produce
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    def verbalize_batch(
        self, histories: Sequence[History], catalog: Catalog
    ) -> list[Verbalization]:
        from toolkit.verbalizers.rewrite import decode_rewrite

        return [
            decode_rewrite(self.target(h, catalog), h, catalog, self.domain, self)
            for h in histories
        ]
