"""``rewrite``: a structured summary of one history that the rewrite renderer turns into text.

Built for a 135M model decoding on CPU: short, closed and bounded everywhere, so that an
output always closes inside its token budget (an unbounded version was seen truncating
into invalid JSON at 200 tokens). Titles and aspects are enumerations of this history's
titles (``ctx.extra["titles"]``, most recent first, at most 30) and of the catalog's
genres/tags (``ctx.extra["aspects"]``); without them they fall back to short strings.
Free text is plain printable ASCII without quotes or backslashes, so its JSON takes one
byte (hence at most one token) per character.

Because the enumerations differ per history, so does the schema: the rewrite uses the
lazily compiling llguidance engine (nothing to compile up front; an eager engine would
spend 2–8 s per example), which also enforces ``count``'s 1..99 that outlines_core ignores.
Keys come out in the order of the model's fields: the summary, then the items (title,
count, signal), then the preferences.

With the titles known, the constraint is a Lark grammar (``grammars.distinct_items``) in
which each title appears at most once, in the order of ``ctx.extra["titles"]`` (the rule
order: liked first, then most recent; the rule-based rewrite's own order): a constrained
model can no longer fold a history into one title repeated. Its other fields are the
schema's, through ``%json``; vLLM and OpenAI-compatible servers get the schema
(``Constraint.fallback``), where a repeat stays possible and validation reports it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from grammars.base import GRAMMARS, Constraint, GrammarContext, ValidationIssue
from grammars.schema import JsonSchemaGrammar

TEXT_PATTERN = r"^[ !#-\[\]-~]*$"
"""Printable ASCII except ``"`` and ``\\``: one byte per character inside a JSON string."""
SUMMARY_MAX = 120
ITEMS_MAX = 6
PREFERENCES_MAX = 5
TITLES_MAX = 30
ASPECTS_MAX = 40
TITLE_MAX = 60
ASPECT_MAX = 30

Signal = Literal["liked", "watched", "disliked", "abandoned"]
Polarity = Literal["likes", "dislikes"]


class AggregatedItem(BaseModel):
    """Several interactions with one title folded into one line."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1)
    count: int = Field(ge=1, le=99)
    signal: Signal


class Preference(BaseModel):
    """A genre or tag the user likes or dislikes."""

    model_config = ConfigDict(extra="forbid")

    aspect: str = Field(min_length=1)
    polarity: Polarity


class Rewrite(BaseModel):
    """What the verbalizer LLM writes about one history."""

    model_config = ConfigDict(extra="forbid")

    summary: str = Field(max_length=SUMMARY_MAX, pattern=TEXT_PATTERN)
    aggregated_items: list[AggregatedItem] = Field(max_length=ITEMS_MAX)
    preferences: list[Preference] = Field(max_length=PREFERENCES_MAX)


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """Resolve pydantic's ``$ref``s and drop its ``title``/``description`` annotations."""
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _inline(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    out = {}
    for key, value in node.items():
        if key in ("title", "description", "$defs"):
            continue
        if key == "properties":
            out[key] = {name: _inline(sub, defs) for name, sub in value.items()}
        else:
            out[key] = _inline(value, defs)
    return out


@lru_cache(maxsize=1)
def _model_schema_text() -> str:
    raw = Rewrite.model_json_schema()
    return json.dumps(_inline(raw, raw.get("$defs", {})))


def model_schema() -> dict[str, Any]:
    """``Rewrite``'s JSON Schema, self-contained and without annotations (a fresh copy)."""
    return json.loads(_model_schema_text())


def _text(limit: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": limit, "pattern": TEXT_PATTERN}


def distinct(values: Sequence[str], limit: int) -> list[str]:
    """The first ``limit`` distinct non-empty values, in order.

    >>> distinct(["b", "a", "b", "", "c"], 2)
    ['b', 'a']
    """
    seen: dict[str, None] = {}
    for value in values:
        if value and value not in seen:
            seen[value] = None
            if len(seen) == limit:
                break
    return list(seen)


def rewrite_schema(
    titles: Sequence[str] | None = None, aspects: Sequence[str] | None = None
) -> dict[str, Any]:
    """``Rewrite``'s schema with titles/aspects as enumerations when given, else as short
    ASCII strings (``schemas/rewrite.json``). Enumerations are sorted, so histories with
    the same titles share one schema text; an empty list (nothing to name) allows no
    item or preference at all. A title is not cut: the renderer must find it again.

    >>> rewrite_schema(["Heat", "Kolya"])["properties"]["aggregated_items"]["items"][
    ...     "properties"]["title"]
    {'enum': ['Heat', 'Kolya']}
    """
    schema = model_schema()
    props = schema["properties"]
    for key, field, values, limit, length in (
        ("aggregated_items", "title", titles, TITLES_MAX, TITLE_MAX),
        ("preferences", "aspect", aspects, ASPECTS_MAX, ASPECT_MAX),
    ):
        allowed = None if values is None else sorted(distinct(list(values), limit))
        if allowed is None:
            props[key]["items"]["properties"][field] = _text(length)
        elif allowed:
            props[key]["items"]["properties"][field] = {"enum": allowed}
        else:
            props[key]["maxItems"] = 0
    return schema


def rewrite_lark(titles: Sequence[str], schema: dict[str, Any]) -> str:
    """The rewrite as a Lark grammar: ``schema``'s summary and preferences (``%json``), and
    aggregated items whose titles are distinct and in the order of ``titles``."""
    from grammars.distinct_items import distinct_array_lark, json_string, literal
    from grammars.engines import get_engine

    def sub(node: dict[str, Any]) -> str:  # compact, as the schema constraint writes it
        return "%json " + json.dumps(get_engine("llguidance").prepare(node))

    props = schema["properties"]
    items = props["aggregated_items"]
    fields = items["items"]["properties"]
    body = " s_0_0?" if titles and items.get("maxItems", 1) else ""
    open_, items_, prefs_ = (
        literal(t) for t in ('{"summary":', ',"aggregated_items":[', '],"preferences":')
    )
    lines = [
        f"start: {open_} summary {items_}{body} {prefs_} preferences {literal('}')}",
        f"summary: {sub(props['summary'])}",
        f"preferences: {sub(props['preferences'])}",
        f"count: {sub(fields['count'])}",
        f"signal: {sub(fields['signal'])}",
    ]
    head, mid, tail = literal('{"title":'), literal(',"count":'), literal(',"signal":')
    for i, title in enumerate(titles):
        lines.append(f"t_{i}: {literal(json_string(title))}")
        lines.append(f"e_{i}: {head} t_{i} {mid} count {tail} signal {literal('}')}")
    if body:
        lines.append(distinct_array_lark(titles, items["maxItems"], lambda i: f"e_{i}"))
    return "\n".join(lines)


@GRAMMARS.register("rewrite")
class RewriteGrammar(JsonSchemaGrammar):
    name = "rewrite"
    description = (
        "summary + aggregated items (each of the history's titles once) + preferences,"
        " every field bounded"
    )
    engine: ClassVar[str] = "llguidance"

    def schema(self, ctx: GrammarContext | None) -> dict[str, Any]:
        extra = ctx.extra if ctx is not None else {}
        return rewrite_schema(extra.get("titles"), extra.get("aspects"))

    def constraint(self, ctx: GrammarContext) -> Constraint:
        """The schema's constraint, or with the history's titles the Lark grammar of
        distinct titles in their order (same byte bound: it accepts a subset)."""
        schema = self.schema(ctx)  # built once: it bounds both constraints
        base = self.schema_constraint(schema)
        titles = ctx.extra.get("titles") if ctx is not None else None
        if not titles:
            return base
        lark = rewrite_lark(distinct(list(titles), TITLES_MAX), schema)
        return Constraint("cfg", lark, "llguidance", base.max_tokens, fallback=base.spec)

    def extra_issues(self, value: Any, ctx: GrammarContext | None) -> list[ValidationIssue]:
        """A title named by two aggregated items (the grammar's constraint cannot write
        one; a server's schema-only constraint or a hand-written file can)."""
        from grammars.validation import json_path

        first: dict[str, int] = {}
        issues = []
        for i, item in enumerate(value.get("aggregated_items") or []):
            title = item.get("title") if isinstance(item, dict) else None
            if title in first:
                where = json_path(["aggregated_items", i, "title"])
                issues.append(ValidationIssue(where, f"repeats item {first[title]}'s title"))
            elif title is not None:
                first[title] = i
        return issues

    def parse(self, text: str, ctx: GrammarContext | None = None) -> Rewrite:
        """The output as a ``Rewrite`` (ValueError listing every issue when invalid)."""
        issues = self.validate(text, ctx)
        if issues:
            raise ValueError("; ".join(str(i) for i in issues))
        return Rewrite.model_validate_json(text)
