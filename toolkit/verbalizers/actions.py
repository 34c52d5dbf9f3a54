"""The actions verbalizers: the LLM picks one code per interaction, the executor writes text.

The LLM sees the history as numbered compact lines and answers a JSON array of exactly n
codes from the domain's action set (``actions``: the domain's ``plan`` grammar, by default
``action_plan``) or a JSON object of line number -> code (``numbered_actions``: the
``numbered_plan`` grammar, whose keys the sampler writes, so each code follows its
line's number); ``actions.execute`` turns the plan into text deterministically. A plan
that cannot run (only possible without the grammar) gives the template text with
``valid=False``.
"""

from __future__ import annotations

import json
import re
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
    numbered = False
    """The plan's format: a JSON array (False) or line number -> code (``numbered_plan``)."""

    def prompt(self, history: History, catalog: Catalog) -> str:
        from actions import get_domain
        from prompts import load_prompt

        return load_prompt("actions", domain=self.domain).render(
            lines=compact_lines(history, catalog, self.domain),
            n=len(history),
            codes=get_domain(self.domain).describe(),
            numbered=self.numbered,
        )

    def grammar_name(self) -> str:
        """The grammar of this verbalizer's plans in its domain."""
        from actions import get_domain

        return "numbered_plan" if self.numbered else get_domain(self.domain).grammar("plan")

    def constraint(self, history: History, catalog: Catalog) -> Any:
        from grammars import get_grammar
        from grammars.base import GrammarContext

        ctx = GrammarContext(n_interactions=len(history), domain=self.domain)
        return get_grammar(self.grammar_name()).constraint(ctx)

    def decode(self, output: str, history: History, catalog: Catalog) -> Verbalization:
        return plan_to_verbalization(output, history, catalog, self.domain, self.tokenizer)

    def plan_text(self, codes: list[str]) -> str:
        """``codes`` written the way this verbalizer answers (a warm-start target)."""
        from grammars.action_plan import array_text
        from grammars.numbered_plan import numbered_text

        return numbered_text(codes) if self.numbered else array_text(codes)

    def code_spans(self, output: str) -> list[tuple[int, int]] | None:
        """Where each line's code sits in ``output`` (character spans inside its quotes,
        line order), so a trainer can credit each decision on its own; None unless the
        output is a plan whose codes are exactly those spans.

        >>> ActionsVerbalizer(None).code_spans('["keep","drop"]')
        [(2, 6), (9, 13)]
        >>> NumberedActionsVerbalizer(None).code_spans('{"1":"keep","2":"drop"}')
        [(6, 10), (17, 21)]
        """
        spans = [(m.start() + 1, m.end() - 1) for m in _STRING.finditer(output)]
        if self.numbered:
            spans = spans[1::2]  # the values; the keys are the line numbers
        try:
            codes = plan_codes(json.loads(output))
        except ValueError:
            return None
        return spans if [output[a:b] for a, b in spans] == codes else None

    def codes(self) -> tuple[str, ...]:
        """Every code a line can take in this verbalizer's domain (sorted)."""
        from grammars.action_plan import domain_codes

        return domain_codes(self.domain)


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


@VERBALIZERS.register("numbered_actions")
class NumberedActionsVerbalizer(ActionsVerbalizer):
    """``actions`` with each code written under its line number (``numbered_plan``)."""

    name = "numbered_actions"
    numbered = True


def plan_codes(value: Any) -> list[str]:
    """The codes of a decoded plan: a JSON array, or a numbered object in line order."""
    from grammars.numbered_plan import numbered_codes

    if isinstance(value, dict):
        return numbered_codes(value)
    if not isinstance(value, list):
        raise ValueError("the plan is not a JSON array")
    return [str(c) for c in value]


def plan_to_verbalization(
    output: str, history: History, catalog: Catalog, domain: str, tokenizer: Any = None
) -> Verbalization:
    """Run a JSON plan of codes (an array or a numbered object); an unusable plan falls
    back to the template, invalid."""
    from actions import ActionError, execute, program_from_codes
    from toolkit.verbalizers.template import TemplateVerbalizer

    try:
        codes = plan_codes(json.loads(output))
        program = program_from_codes(codes, domain, n=len(history))
        result = execute(program, history, catalog, domain, tokenizer=tokenizer)
    except (ValueError, ActionError) as exc:
        fallback = TemplateVerbalizer(tokenizer).verbalize(history, catalog)
        meta = {**fallback.meta, "error": str(exc)}
        return Verbalization(**{**fallback.__dict__, "valid": False, "meta": meta})
    result.meta["codes"] = codes
    return result
