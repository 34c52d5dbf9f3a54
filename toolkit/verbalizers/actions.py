"""The actions verbalizer: the LLM picks one code per interaction, the executor writes text.

The LLM sees the history as numbered compact lines and answers a JSON array of exactly n
codes from the domain's action set (the ``action_plan`` grammar); ``actions.execute``
turns the plan into text deterministically. A plan that cannot run (only possible
without the grammar) gives the template text with ``valid=False``.
"""

from __future__ import annotations

import json
from typing import Any

from toolkit.records import Catalog, History
from toolkit.verbalizers.base import VERBALIZERS, LLMVerbalizer, Verbalization


def compact_lines(history: History, catalog: Catalog, domain: str) -> list[str]:
    """One executor line per interaction (every interaction kept, nothing merged)."""
    from actions import execute, get_domain, program_from_codes

    dom = get_domain(domain)
    program = program_from_codes([dom.default_code] * len(history), dom, n=len(history))
    text = execute(program, history, catalog, dom).text
    return text.split("\n") if text else []


@VERBALIZERS.register("actions")
class ActionsVerbalizer(LLMVerbalizer):
    name = "actions"

    def prompt(self, history: History, catalog: Catalog) -> str:
        from actions import get_domain
        from prompts import load_prompt

        return load_prompt("actions", domain=self.domain).render(
            lines=compact_lines(history, catalog, self.domain),
            n=len(history),
            codes=get_domain(self.domain).describe(),
        )

    def constraint(self, history: History, catalog: Catalog) -> Any:
        from actions import get_domain
        from grammars import get_grammar
        from grammars.base import GrammarContext

        ctx = GrammarContext(n_interactions=len(history), domain=self.domain)
        return get_grammar(get_domain(self.domain).grammar("plan")).constraint(ctx)

    def decode(self, output: str, history: History, catalog: Catalog) -> Verbalization:
        return plan_to_verbalization(output, history, catalog, self.domain, self.tokenizer)


def plan_to_verbalization(
    output: str, history: History, catalog: Catalog, domain: str, tokenizer: Any = None
) -> Verbalization:
    """Run a JSON plan of codes; an unusable plan falls back to the template, invalid."""
    from actions import ActionError, execute, program_from_codes
    from toolkit.verbalizers.template import TemplateVerbalizer

    try:
        codes = json.loads(output)
        if not isinstance(codes, list):
            raise ValueError("the plan is not a JSON array")
        program = program_from_codes([str(c) for c in codes], domain, n=len(history))
        result = execute(program, history, catalog, domain, tokenizer=tokenizer)
    except (ValueError, ActionError) as exc:
        fallback = TemplateVerbalizer(tokenizer).verbalize(history, catalog)
        meta = {**fallback.meta, "error": str(exc)}
        return Verbalization(**{**fallback.__dict__, "valid": False, "meta": meta})
    result.meta["codes"] = codes
    return result
