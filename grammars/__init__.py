"""Output grammars: what an LLM output must look like for one example, and a registry.

``get_grammar(name_or_path)`` finds a grammar (built-ins ``action_plan``, ``rewrite``,
``choice``, ``choice_index``; entry points ``vtk.grammars``; dotted paths; ``.json``,
``.lark`` and ``.regex`` files). ``grammar.constraint(ctx)`` is what the decoder enforces,
``grammar.validate(text, ctx)`` every problem of a finished output, with JSON paths.
Which engine compiles which grammar, and why: ``grammars.engines``.
"""

from __future__ import annotations

from grammars.base import (
    GRAMMARS,
    Constraint,
    ConstraintKind,
    Grammar,
    GrammarContext,
    GrammarError,
    ValidationIssue,
    canonical_json,
)
from grammars.engines import ENGINES, check_schema
from grammars.loader import as_grammar, get_grammar, grammar_names, load_builtins

__all__ = [
    "ENGINES",
    "GRAMMARS",
    "Constraint",
    "ConstraintKind",
    "Grammar",
    "GrammarContext",
    "GrammarError",
    "ValidationIssue",
    "as_grammar",
    "canonical_json",
    "check_schema",
    "get_grammar",
    "grammar_names",
    "load_builtins",
]
