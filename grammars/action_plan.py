"""``action_plan``: one action code per interaction, exactly as many as the history has.

The output is a JSON array of the domain's short codes (``["keep","drop","enrich"]``);
which codes exist (and so which enrichment fields and aggregations the LLM can ask for)
comes from the domain's action set, ``actions.domains.get_domain(ctx.domain)``.

Engine: llguidance. The schema depends only on (domain, n), so an eager engine would
compile once per length and serve the rest from the backend's cache; but measured on
SmolLM2's vocabulary (n=50) the per-step mask cost the same on outlines_core and
llguidance (0.10 vs 0.11 ms at batch 1, 0.54 vs 0.61 ms at batch 8), outlines_core
spent 0.1–1 s compiling each length (n=10..100), and its ``[ ]?`` whitespace let the model spend a
token on a space after every comma (~n wasted decode steps, ~85 ms each on the 135M
model). llguidance compiles nothing up front and its compact flag keeps the plan at
9n+1 bytes at most.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, ClassVar

from grammars.base import GRAMMARS, GrammarContext
from grammars.schema import JsonSchemaGrammar


@lru_cache(maxsize=64)
def domain_codes(domain: str) -> tuple[str, ...]:
    """The domain's codes, sorted (the order of the schema's enum)."""
    from actions.domains import get_domain

    return tuple(sorted(get_domain(domain).codes))


def plan_schema(codes: tuple[str, ...], n: int | None) -> dict[str, Any]:
    """An array of codes; exactly ``n`` entries when ``n`` is known.

    >>> plan_schema(("drop", "keep"), 2)
    {'type': 'array', 'items': {'enum': ['drop', 'keep']}, 'minItems': 2, 'maxItems': 2}
    """
    schema: dict[str, Any] = {"type": "array", "items": {"enum": sorted(codes)}}
    if n is not None:
        schema["minItems"] = schema["maxItems"] = n
    return schema


def array_text(codes: list[str]) -> str:
    """The compact JSON the grammar accepts for ``codes`` (a warm-start target).

    >>> array_text(["keep", "drop"])
    '["keep","drop"]'
    """
    import json

    return json.dumps(codes, separators=(",", ":"))


@GRAMMARS.register("action_plan")
class ActionPlanGrammar(JsonSchemaGrammar):
    name = "action_plan"
    description = "JSON array of one action code per interaction (codes from the domain)"
    engine: ClassVar[str] = "llguidance"

    def schema(self, ctx: GrammarContext | None) -> dict[str, Any]:
        """Without a context the length is unknown: any number of the default domain's codes."""
        if ctx is None:
            return plan_schema(domain_codes(GrammarContext().domain), None)
        return plan_schema(domain_codes(ctx.domain), ctx.n_interactions)
