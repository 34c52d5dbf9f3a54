"""Non-JSON user grammars: a regex, a fixed choice list, a Lark context-free grammar.

A Lark grammar is checked and matched by llguidance itself (the engine that decodes it),
over a byte-level vocabulary, so validation accepts exactly what decoding can produce
and needs no model tokenizer.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from grammars.base import Constraint, Grammar, GrammarContext, GrammarError, ValidationIssue
from grammars.choice import choice_issues, label_constraint
from grammars.validation import short

DEFAULT_MAX_TOKENS = 256


def _read(path: str | Path) -> str:
    from toolkit.errors import InputError

    path = Path(path)
    if not path.is_file():
        raise InputError.at("grammar file not found", path)
    return path.read_text(encoding="utf-8")


class RegexGrammar(Grammar):
    """Outputs that fully match ``pattern`` (Python ``re`` syntax common to the engines)."""

    description = "text matching a regular expression"

    def __init__(
        self,
        pattern: str,
        name: str = "regex",
        *,
        engine: str = "outlines_core",
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ):
        try:
            self.regex = re.compile(pattern)
        except re.error as exc:
            raise GrammarError(f"grammar {name!r}: invalid regex {pattern!r}: {exc}") from None
        self.pattern, self.name, self.engine, self.max_tokens = pattern, name, engine, max_tokens

    @classmethod
    def from_file(cls, path: str | Path) -> RegexGrammar:
        """A ``.regex`` file: the pattern, surrounding whitespace removed."""
        return cls(_read(path).strip(), name=str(path))

    def constraint(self, ctx: GrammarContext) -> Constraint:
        return Constraint("regex", self.pattern, self.engine, self.max_tokens)

    def validate(self, text: str, ctx: GrammarContext | None = None) -> list[ValidationIssue]:
        if self.regex.fullmatch(text):
            return []
        return [ValidationIssue("$", f"{short(text)} does not match {self.pattern}")]

    def parse(self, text: str, ctx: GrammarContext | None = None) -> str:
        issues = self.validate(text, ctx)
        if issues:
            raise ValueError("; ".join(map(str, issues)))
        return text


class ChoiceListGrammar(Grammar):
    """One of a fixed list of strings (``["yes", "no"]``); ``parse`` returns the string."""

    description = "one of a fixed list of strings"

    def __init__(self, choices: list[str], name: str = "choices", *, engine: str = "outlines_core"):
        if not choices or not all(isinstance(c, str) and c for c in choices):
            raise GrammarError(f"grammar {name!r}: choices must be non-empty strings: {choices}")
        self.choices, self.name, self.engine = list(choices), name, engine

    def constraint(self, ctx: GrammarContext) -> Constraint:
        return label_constraint(self.choices, self.engine)

    def validate(self, text: str, ctx: GrammarContext | None = None) -> list[ValidationIssue]:
        return choice_issues(text, self.choices)

    def parse(self, text: str, ctx: GrammarContext | None = None) -> str:
        issues = self.validate(text, ctx)
        if issues:
            raise ValueError("; ".join(map(str, issues)))
        return text.strip()


class _Bytes:
    """A byte-level vocabulary (256 bytes + EOS) for llguidance's matcher."""

    def __init__(self) -> None:
        self.eos_token_id = 256
        self.bos_token_id = None
        self.tokens = [bytes([i]) for i in range(256)] + [b"<eos>"]
        self.special_token_ids = [256]

    def __call__(self, text: str | bytes) -> list[int]:
        return list(text if isinstance(text, bytes) else text.encode())


@lru_cache(maxsize=1)
def _byte_tokenizer() -> Any:
    import llguidance

    return llguidance.LLTokenizer(llguidance.TokenizerWrapper(_Bytes()))


class LarkGrammar(Grammar):
    """Outputs of a Lark context-free grammar (decoded by llguidance)."""

    description = "text of a Lark context-free grammar"

    def __init__(self, lark: str, name: str = "cfg", *, max_tokens: int = DEFAULT_MAX_TOKENS):
        import llguidance

        self.lark, self.name, self.engine, self.max_tokens = lark, name, "llguidance", max_tokens
        self._grammar = llguidance.grammar_from("lark", lark)
        error = llguidance.LLMatcher.validate_grammar(self._grammar, _byte_tokenizer())
        if error:
            raise GrammarError(f"grammar {name!r}: invalid Lark grammar: {error.strip()}")

    @classmethod
    def from_file(cls, path: str | Path) -> LarkGrammar:
        return cls(_read(path), name=str(path))

    def constraint(self, ctx: GrammarContext) -> Constraint:
        return Constraint("cfg", self.lark, self.engine, self.max_tokens)

    def validate(self, text: str, ctx: GrammarContext | None = None) -> list[ValidationIssue]:
        import llguidance

        matcher = llguidance.LLMatcher(_byte_tokenizer(), self._grammar, log_level=0)
        data = text.encode()
        for i, byte in enumerate(data):
            if not matcher.consume_token(byte):
                prefix = data[:i].decode(errors="replace")
                return [
                    ValidationIssue(
                        "$",
                        f"does not match the grammar at character {len(prefix)}: "
                        f"{short(text[len(prefix) : len(prefix) + 20])} cannot follow "
                        f"{short(prefix[-20:])}",
                    )
                ]
        if not matcher.is_accepting():
            return [ValidationIssue("$", "the output ends before the grammar is complete")]
        return []

    def parse(self, text: str, ctx: GrammarContext | None = None) -> str:
        issues = self.validate(text, ctx)
        if issues:
            raise ValueError("; ".join(map(str, issues)))
        return text
