"""``choice``: one of this example's candidates, answered as a short label.

Candidates are shown as ``A.`` .. ``J.`` and the answer is the bare label: one token in
SmolLM2's tokenizer (tested), so the constrained answer is a single decode step and its
masked log-prob is an exact log-softmax over the labels. ``choice_index`` answers the
0-based index instead (one token up to 10 candidates, two up to 100). The label list is
the same for every example with the same number of candidates, so the eagerly compiling
outlines_core engine compiles its regex alternation once (~0.1 s) and the backend's cache
serves the rest.
"""

from __future__ import annotations

from typing import ClassVar

from grammars.base import (
    GRAMMARS,
    Constraint,
    Grammar,
    GrammarContext,
    ValidationIssue,
    canonical_json,
)

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def choice_labels(n: int, style: str = "letter") -> list[str]:
    """The labels of ``n`` candidates: letters (indices past 26), or indices.

    >>> choice_labels(3), choice_labels(3, "index")
    (['A', 'B', 'C'], ['0', '1', '2'])
    """
    if n < 1:
        raise ValueError(f"a choice needs at least one candidate, got n_candidates={n}")
    if style == "letter" and n <= len(LETTERS):
        return list(LETTERS[:n])
    return [str(i) for i in range(n)]


def label_constraint(labels: list[str], engine: str = "outlines_core") -> Constraint:
    """A choice among ``labels``: the backend compiles the regex alternation; the budget is
    the longest label in bytes plus the end-of-sequence token."""
    budget = max(len(label.encode()) for label in labels) + 1
    return Constraint("choice", canonical_json(labels), engine, budget)


def choice_issues(text: str, labels: list[str]) -> list[ValidationIssue]:
    """Empty when ``text`` (surrounding whitespace ignored) is one of ``labels``."""
    if text.strip() in labels:
        return []
    shown = ", ".join(labels) if len(labels) <= 12 else f"{labels[0]} .. {labels[-1]}"
    return [ValidationIssue("$", f"expected one of {shown}, got {text.strip()[:40]!r}")]


@GRAMMARS.register("choice")
class ChoiceGrammar(Grammar):
    name = "choice"
    description = "one candidate, answered as its label A..J (one token)"
    style: ClassVar[str] = "letter"
    engine: ClassVar[str] = "outlines_core"

    def labels(self, ctx: GrammarContext | None) -> list[str]:
        return choice_labels((ctx or GrammarContext()).n_candidates, self.style)

    def constraint(self, ctx: GrammarContext) -> Constraint:
        return label_constraint(self.labels(ctx), self.engine)

    def validate(self, text: str, ctx: GrammarContext | None = None) -> list[ValidationIssue]:
        return choice_issues(text, self.labels(ctx))

    def parse(self, text: str, ctx: GrammarContext | None = None) -> int:
        """The 0-based index of the chosen candidate (ValueError when invalid)."""
        issues = self.validate(text, ctx)
        if issues:
            raise ValueError("; ".join(str(i) for i in issues))
        return self.labels(ctx).index(text.strip())


@GRAMMARS.register("choice_index")
class IndexChoiceGrammar(ChoiceGrammar):
    name = "choice_index"
    description = "one candidate, answered as its 0-based index"
    style: ClassVar[str] = "index"
