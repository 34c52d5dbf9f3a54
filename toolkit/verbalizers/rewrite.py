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


def history_titles(history: History, catalog: Catalog) -> list[str]:
    """Distinct display titles, most recent first."""
    seen: dict[str, None] = {}
    for x in reversed(history.interactions):
        item = catalog.get(x.item_id)
        if item is not None:
            seen.setdefault(item.display_title, None)
    return list(seen)


def aspects_of(item: Item, domain: str = "streaming", *, genres_only: bool = False) -> list[str]:
    """The item's values of the domain's ``aspect_fields`` (genres and tags by default;
    ``genres_only``: without tags, what liked items add to the preferences)."""
    from actions import get_domain
    from actions.executor import reader

    dom = get_domain(domain)
    read = reader(dom)
    fields = [f for f in dom.aspect_fields if not (genres_only and f == "tags")]
    return [v for f in fields for v in read(item, f)]


def history_aspects(history: History, catalog: Catalog, domain: str = "streaming") -> list[str]:
    """Aspects (genres and tags, or the domain's ``aspect_fields``) of the history's items,
    most frequent first."""
    counts: Counter[str] = Counter()
    for x in history.interactions:
        item = catalog.get(x.item_id)
        if item is not None:
            counts.update(aspects_of(item, domain))
    return [a for a, _ in counts.most_common()]


def grammar_context(history: History, catalog: Catalog, domain: str) -> Any:
    """The rewrite grammar's context: the 30 most recent titles, in the order items are
    written (``heuristic.rewrite_title_order``), and the most frequent aspects."""
    from grammars.base import GrammarContext
    from grammars.rewrite import ASPECTS_MAX
    from toolkit.verbalizers.heuristic import rewrite_title_order

    return GrammarContext(
        n_interactions=len(history),
        domain=domain,
        extra={
            "titles": rewrite_title_order(history, catalog, domain=domain),
            "aspects": history_aspects(history, catalog, domain)[:ASPECTS_MAX],
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


def rewrite_shape(domain: str) -> Any:
    """The domain and the ``grammars.shapes.Shape`` of its rewrite grammar."""
    from actions import get_domain
    from grammars.shapes import shape_for

    dom = get_domain(domain)
    return dom, shape_for(dom.grammar("rewrite"))


def decode_rewrite(
    output: str, history: History, catalog: Catalog, domain: str, verbalizer: Any
) -> Verbalization:
    """Validate ``output`` under the domain's rewrite grammar and render it (the template
    text, invalid, when it does not validate)."""
    import json

    from grammars import get_grammar

    dom, shape = rewrite_shape(domain)
    ctx = shape.context(history, catalog, dom)
    issues = get_grammar(shape.grammar).validate(output, ctx)
    if issues:
        error = "; ".join(str(i) for i in issues)
        return verbalizer.measure(
            render_template(history, catalog), history, catalog, valid=False, error=error
        )
    value = json.loads(output)
    text = shape.render(value, history, catalog, dom)
    return verbalizer.measure(text, history, catalog, **shape.meta(value))


@VERBALIZERS.register("rewrite")
class RewriteVerbalizer(LLMVerbalizer):
    """The LLM writes the domain's rewrite shape (``rewrite``, ``clinical_summary``, or a
    domain folder's own JSON Schema); its renderer makes the text."""

    name = "rewrite"

    def prompt(self, history: History, catalog: Catalog) -> str:
        from prompts import load_prompt

        _, shape = rewrite_shape(self.domain)
        return load_prompt("rewrite", domain=self.domain).render(
            history=render_template(history, catalog), schema_hint=shape.hint
        )

    def constraint(self, history: History, catalog: Catalog) -> Any:
        from grammars import get_grammar

        dom, shape = rewrite_shape(self.domain)
        return get_grammar(shape.grammar).constraint(shape.context(history, catalog, dom))

    def decode(self, output: str, history: History, catalog: Catalog) -> Verbalization:
        return decode_rewrite(output, history, catalog, self.domain, self)
