"""``numbered_plan``: one action code per interaction, each under its line number.

The output is a JSON object whose keys are the history's line numbers in order, each
mapped to one of the domain's codes (``{"1":"liked","2":"drop"}``). The keys are fixed
by the schema (every one required, in order, nothing else allowed), so the sampler
writes them without a choice; the model only picks the codes. What the keys buy: before
each code the model has just written that line's number, which it can match against the
numbered lines of the prompt, instead of counting commas to know which line it is on
(the ``action_plan`` array). Same codes, same executor; the ``numbered_actions``
verbalizer writes and reads this format.
"""

from __future__ import annotations

from typing import Any, ClassVar

from grammars.action_plan import domain_codes
from grammars.base import GRAMMARS, GrammarContext, ValidationIssue
from grammars.schema import JsonSchemaGrammar


def numbered_schema(codes: tuple[str, ...], n: int | None) -> dict[str, Any]:
    """Keys ``"1"`` .. ``"n"``, in order, each an enum of codes; any numbered keys without n.

    >>> numbered_schema(("drop", "keep"), 2)["required"]
    ['1', '2']
    """
    item = {"enum": sorted(codes)}
    if n is None:
        return {"type": "object", "additionalProperties": item}
    keys = [str(i) for i in range(1, n + 1)]
    return {
        "type": "object",
        "properties": {k: item for k in keys},
        "required": keys,
        "additionalProperties": False,
    }


def numbered_codes(value: Any) -> list[str]:
    """The codes of a numbered plan in line order; ``ValueError`` unless its keys are
    exactly ``1`` .. ``n`` in order.

    >>> numbered_codes({"1": "keep", "2": "drop"})
    ['keep', 'drop']
    """
    if not isinstance(value, dict):
        raise ValueError("the plan is not a JSON object of line numbers")
    expected = [str(i) for i in range(1, len(value) + 1)]
    if list(value) != expected:
        raise ValueError(f"the plan's keys must be the line numbers 1..{len(value)} in order")
    return [str(c) for c in value.values()]


def numbered_text(codes: list[str]) -> str:
    """The compact JSON the grammar accepts for ``codes`` (a warm-start target).

    >>> numbered_text(["keep", "drop"])
    '{"1":"keep","2":"drop"}'
    """
    import json

    return json.dumps({str(i): c for i, c in enumerate(codes, 1)}, separators=(",", ":"))


@GRAMMARS.register("numbered_plan")
class NumberedPlanGrammar(JsonSchemaGrammar):
    name = "numbered_plan"
    description = "JSON object of line number -> action code, one per interaction, in order"
    engine: ClassVar[str] = "llguidance"

    def schema(self, ctx: GrammarContext | None) -> dict[str, Any]:
        """Without a context the length is unknown: any numbered keys, checked in order."""
        if ctx is None:
            return numbered_schema(domain_codes(GrammarContext().domain), None)
        return numbered_schema(domain_codes(ctx.domain), ctx.n_interactions)

    def extra_issues(self, value: Any, ctx: GrammarContext | None) -> list[ValidationIssue]:
        try:
            numbered_codes(value)
        except ValueError as exc:
            return [ValidationIssue("$", str(exc))]
        return []
