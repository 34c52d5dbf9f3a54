"""The rewrite verbalizer: the LLM writes a structured rewrite, a renderer makes the text.

The ``rewrite`` grammar closes every field: titles and preference aspects are enumerations
of this history's own titles and catalog genres/tags, so a rewrite can neither invent an
item nor cut a word in half. ``render_rewrite`` writes one line per aggregated item (with
the item's year and genres found again in the catalog) and one line of preferences, the
shape the line-unit embedding oracle reads best.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from toolkit.records import Catalog, History, Item
from toolkit.verbalizers.base import VERBALIZERS, LLMVerbalizer, Verbalization
from toolkit.verbalizers.template import render_template

SCHEMA_HINT = (
    '{"summary": short text, "aggregated_items": [{"title", "count", "signal"}], '
    '"preferences": [{"aspect", "polarity"}]}'
)


def history_titles(history: History, catalog: Catalog) -> list[str]:
    """Distinct display titles, most recent first."""
    seen: dict[str, None] = {}
    for x in reversed(history.interactions):
        item = catalog.get(x.item_id)
        if item is not None:
            seen.setdefault(item.display_title, None)
    return list(seen)


def history_aspects(history: History, catalog: Catalog) -> list[str]:
    """Genres and tags of the history's items, most frequent first."""
    counts: Counter[str] = Counter()
    for x in history.interactions:
        item = catalog.get(x.item_id)
        if item is not None:
            counts.update(item.genres)
            counts.update(item.tags)
    return [a for a, _ in counts.most_common()]


def grammar_context(history: History, catalog: Catalog, domain: str) -> Any:
    from grammars.base import GrammarContext
    from grammars.rewrite import ASPECTS_MAX, TITLES_MAX

    return GrammarContext(
        n_interactions=len(history),
        domain=domain,
        extra={
            "titles": history_titles(history, catalog)[:TITLES_MAX],
            "aspects": history_aspects(history, catalog)[:ASPECTS_MAX],
        },
    )


def _item_line(item: Item | None, title: str, count: int, signal: str) -> str:
    line = f"{title}: {signal}" + (f" x{count}" if count > 1 else "")
    if item is not None and item.genres:
        line += f"; {', '.join(item.genres)}"
    return line


def render_rewrite(rewrite: Any, history: History, catalog: Catalog) -> str:
    """Text of a ``grammars.rewrite.Rewrite``: summary, one line per item, preferences."""
    by_title = {}
    for x in history.interactions:
        item = catalog.get(x.item_id)
        if item is not None:
            by_title[item.display_title] = item
    lines = [rewrite.summary.strip()] if rewrite.summary.strip() else []
    for agg in rewrite.aggregated_items:
        lines.append(_item_line(by_title.get(agg.title), agg.title, agg.count, agg.signal))
    likes = [p.aspect for p in rewrite.preferences if p.polarity == "likes"]
    dislikes = [p.aspect for p in rewrite.preferences if p.polarity == "dislikes"]
    if likes:
        lines.append("Likes: " + ", ".join(likes))
    if dislikes:
        lines.append("Dislikes: " + ", ".join(dislikes))
    return "\n".join(lines)


def decode_rewrite(
    output: str, history: History, catalog: Catalog, domain: str, verbalizer: Any
) -> Verbalization:
    from grammars import get_grammar

    ctx = grammar_context(history, catalog, domain)
    try:
        rewrite = get_grammar("rewrite").parse(output, ctx)
    except ValueError as exc:
        return verbalizer.measure(
            render_template(history, catalog), history, catalog, valid=False, error=str(exc)
        )
    text = render_rewrite(rewrite, history, catalog)
    return verbalizer.measure(
        text,
        history,
        catalog,
        rewrite=rewrite.model_dump(),
        aggregated_runs=sum(1 for a in rewrite.aggregated_items if a.count > 1),
        preferences=len(rewrite.preferences),
    )


@VERBALIZERS.register("rewrite")
class RewriteVerbalizer(LLMVerbalizer):
    name = "rewrite"

    def prompt(self, history: History, catalog: Catalog) -> str:
        from prompts import load_prompt

        return load_prompt("rewrite", domain=self.domain).render(
            history=render_template(history, catalog), schema_hint=SCHEMA_HINT
        )

    def constraint(self, history: History, catalog: Catalog) -> Any:
        from grammars import get_grammar

        return get_grammar("rewrite").constraint(grammar_context(history, catalog, self.domain))

    def decode(self, output: str, history: History, catalog: Catalog) -> Verbalization:
        return decode_rewrite(output, history, catalog, self.domain, self)
