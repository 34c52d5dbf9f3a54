"""The zero-shot verbalizer: an untrained LLM summarises the history from a heuristic prompt.

Free text by default (bounded by ``max_tokens``); with ``structured=True`` it answers under
the ``rewrite`` grammar and the rewrite renderer turns the JSON into text, which is the
paper's zero-shot row with a schema-valid output guaranteed.
"""

from __future__ import annotations

from typing import Any

from grammars.base import Constraint
from toolkit.records import Catalog, History
from toolkit.verbalizers.base import VERBALIZERS, LLMVerbalizer, Verbalization
from toolkit.verbalizers.template import render_template


@VERBALIZERS.register("zero_shot")
class ZeroShotVerbalizer(LLMVerbalizer):
    name = "zero_shot"

    def __init__(self, generator: Any = None, *, structured: bool = False, **kwargs: Any):
        super().__init__(generator, **kwargs)
        self.structured = structured

    def prompt(self, history: History, catalog: Catalog) -> str:
        if self.structured:
            from toolkit.verbalizers.rewrite import RewriteVerbalizer

            return RewriteVerbalizer(domain=self.domain).prompt(history, catalog)
        from prompts import load_prompt

        return load_prompt("zero_shot", domain=self.domain).render(
            history=render_template(history, catalog)
        )

    def constraint(self, history: History, catalog: Catalog) -> Constraint | None:
        if self.structured:
            from toolkit.verbalizers.rewrite import RewriteVerbalizer

            return RewriteVerbalizer(domain=self.domain).constraint(history, catalog)
        return None

    def decode(self, output: str, history: History, catalog: Catalog) -> Verbalization:
        if self.structured:
            from toolkit.verbalizers.rewrite import RewriteVerbalizer

            return RewriteVerbalizer(tokenizer=self.tokenizer, domain=self.domain).decode(
                output, history, catalog
            )
        text = output.strip()
        return self.measure(text, history, catalog, valid=bool(text))
