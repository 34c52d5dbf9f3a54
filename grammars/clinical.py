"""``clinical_summary``: active problems, medications and recent encounters of one record.

Every entry is an enumeration of the codes present in this patient's history (the item ids
``condition:<SNOMED>``, ``medication:<RxNorm>``, ``encounter:<SNOMED>``), so a summary can
neither invent a diagnosis nor misspell one; the renderer writes each code's description
from the catalog. Arrays are bounded, so an output always closes inside its budget.

Critical entries (the domain's critical rules: active medications, allergies) are written
by the renderer from the record whatever the summary chose, under ``From the record:``.
Engine: llguidance (the enumerations differ per history; nothing to compile up front).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, ClassVar

from grammars.base import GRAMMARS, GrammarContext
from grammars.schema import JsonSchemaGrammar
from grammars.shapes import SHAPES, Shape

if TYPE_CHECKING:
    from actions.domains import Domain
    from toolkit.records import Catalog, History

PROBLEMS_MAX = 6
MEDICATIONS_MAX = 6
ENCOUNTERS_MAX = 4
CODES_MAX = 40
"""At most this many codes per enumeration (the most recent ones)."""
SECTIONS = {"active_problems": "condition", "medications": "medication"}


def _codes(values: list[str] | None) -> dict[str, Any]:
    return {"enum": sorted(values)} if values else {"type": "string", "maxLength": 40}


def clinical_schema(
    problems: list[str] | None = None,
    medications: list[str] | None = None,
    encounters: list[str] | None = None,
) -> dict[str, Any]:
    """The schema for one record's codes (None: any short code; empty: nothing allowed).

    >>> s = clinical_schema(["condition:1"], [], ["encounter:9"])
    >>> s["properties"]["active_problems"]
    {'type': 'array', 'items': {'enum': ['condition:1']}, 'maxItems': 6}
    >>> s["properties"]["medications"]["maxItems"]
    0
    """

    def array(values: list[str] | None, limit: int, item: dict[str, Any] | None = None):
        bound = limit if values is None or values else 0
        return {"type": "array", "items": item or _codes(values), "maxItems": bound}

    encounter = {
        "type": "object",
        "properties": {
            "code": _codes(encounters),
            "count": {"type": "integer", "minimum": 1, "maximum": 99},
        },
        "required": ["code", "count"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            "active_problems": array(problems, PROBLEMS_MAX),
            "medications": array(medications, MEDICATIONS_MAX),
            "recent_encounters": array(encounters, ENCOUNTERS_MAX, encounter),
        },
        "required": ["active_problems", "medications", "recent_encounters"],
        "additionalProperties": False,
    }


@GRAMMARS.register("clinical_summary")
class ClinicalSummaryGrammar(JsonSchemaGrammar):
    name = "clinical_summary"
    description = "active problems, medications, recent encounters: codes of this record"
    engine: ClassVar[str] = "llguidance"

    def schema(self, ctx: GrammarContext | None) -> dict[str, Any]:
        extra = ctx.extra if ctx is not None else {}
        return clinical_schema(
            extra.get("problems"), extra.get("medications"), extra.get("encounters")
        )


def record_codes(history: History, kind: str) -> list[str]:
    """Distinct item ids of ``kind`` (the event) in the history, most recent first."""
    seen: dict[str, None] = {}
    for x in reversed(history.interactions):
        if x.event == kind:
            seen.setdefault(x.item_id, None)
    return list(seen)[:CODES_MAX]


class ClinicalShape(Shape):
    grammar = "clinical_summary"
    hint = (
        '{"active_problems": [condition codes], "medications": [medication codes], '
        '"recent_encounters": [{"code", "count"}]} using only codes of this record'
    )

    def context(self, history: History, catalog: Catalog, domain: Domain) -> GrammarContext:
        return GrammarContext(
            n_interactions=len(history),
            domain=domain.name,
            extra={
                "problems": record_codes(history, "condition"),
                "medications": record_codes(history, "medication"),
                "encounters": record_codes(history, "encounter"),
            },
        )

    def render(self, value: Any, history: History, catalog: Catalog, domain: Domain) -> str:
        from actions.executor import critical_indices, keep_line

        def title(code: str) -> str:
            item = catalog.get(code)
            return item.display_title if item is not None else code

        lines = []
        for key, label in (("active_problems", "Active problems"), ("medications", "Medications")):
            names = list(dict.fromkeys(title(c) for c in value[key]))
            if names:
                lines.append(f"{label}: " + "; ".join(names))
        visits = [
            title(e["code"]) + (f" x{e['count']}" if e["count"] > 1 else "")
            for e in value["recent_encounters"]
        ]
        if visits:
            lines.append("Recent encounters: " + "; ".join(dict.fromkeys(visits)))
        shown = {c for key in SECTIONS for c in value[key]}
        critical = [
            keep_line(history.interactions[i], catalog.get(history.interactions[i].item_id), domain)
            for i in sorted(critical_indices(history, catalog, domain))
            if history.interactions[i].item_id not in shown
        ]
        if critical:
            lines.append("From the record: " + "; ".join(dict.fromkeys(critical)))
        return "\n".join(lines)

    def heuristic(self, history: History, catalog: Catalog, domain: Domain) -> Any:
        """Active conditions and medications (``active`` attr), else the most recent ones;
        the most frequent recent encounter types."""
        out: dict[str, Any] = {}
        for key, kind in SECTIONS.items():
            limit = PROBLEMS_MAX if key == "active_problems" else MEDICATIONS_MAX
            codes = record_codes(history, kind)
            active = {x.item_id for x in history.interactions if x.attrs.get("active") == "yes"}
            out[key] = ([c for c in codes if c in active] or codes)[:limit]
        recent = [x.item_id for x in history.interactions if x.event == "encounter"][-12:]
        counts = Counter(recent)
        allowed = set(record_codes(history, "encounter"))
        out["recent_encounters"] = [
            {"code": c, "count": min(n, 99)}
            for c, n in counts.most_common(ENCOUNTERS_MAX)
            if c in allowed
        ]
        return out

    def meta(self, value: Any) -> dict[str, Any]:
        return {"summary": value, "entries": sum(len(value[k]) for k in value)}


SHAPES.add("clinical_summary", ClinicalShape())
