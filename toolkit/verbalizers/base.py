"""The verbalizer protocol: a history in, a text (plus what it cost) out.

Every verbalizer reports the length of its text in characters and, when a tokenizer is
given, tokens, together with the template text's lengths for the same history, so that a
compression ratio (verbalized / template) always has the same denominator.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from toolkit.records import Catalog, History
from toolkit.registry import Registry


class TokenCounter(Protocol):
    """Anything with a Hugging Face tokenizer's ``encode``."""

    def encode(self, text: str, add_special_tokens: bool = ...) -> list[int]: ...


def count_tokens(text: str, tokenizer: TokenCounter | None) -> int | None:
    if tokenizer is None:
        return None
    return len(tokenizer.encode(text, add_special_tokens=False))


@dataclass(frozen=True)
class Verbalization:
    """A verbalized history and its cost.

    ``compression`` is verbalized / template length, in tokens when both token counts
    are known, else in characters. ``meta`` holds verbalizer-specific detail (the action
    program, the structured rewrite, which interaction indices were kept...).
    """

    text: str
    chars: int
    tokens: int | None = None
    template_chars: int | None = None
    template_tokens: int | None = None
    valid: bool = True
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def compression(self) -> float | None:
        if self.tokens is not None and self.template_tokens:
            return self.tokens / self.template_tokens
        if self.template_chars:
            return self.chars / self.template_chars
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "chars": self.chars,
            "tokens": self.tokens,
            "template_chars": self.template_chars,
            "template_tokens": self.template_tokens,
            "compression": self.compression,
            "valid": self.valid,
            "meta": self.meta,
        }


class Verbalizer(ABC):
    """Turns a history into text. Subclasses register themselves in ``VERBALIZERS``."""

    name: ClassVar[str] = "base"

    TEMPLATE_CACHE = 4096
    """Histories whose template lengths ``measure`` remembers (GRPO measures every one of
    a history's G rollouts against the same template)."""

    def __init__(self, tokenizer: TokenCounter | None = None):
        self.tokenizer = tokenizer

    def template_lengths(self, history: History, catalog: Catalog) -> tuple[int, int | None]:
        """Characters and tokens of ``history``'s template text, rendered once per history
        (the entry keeps the history alive, so its id cannot be reused while cached)."""
        from toolkit.verbalizers.template import render_template

        cache: dict[tuple[int, int], tuple[Any, int, int | None]]
        cache = self.__dict__.setdefault("_template_lengths", {})
        key = (id(history), id(catalog))
        hit = cache.get(key)
        if hit is not None and hit[0] is history:
            return hit[1], hit[2]
        template = render_template(history, catalog)
        lengths = (len(template), count_tokens(template, self.tokenizer))
        if len(cache) >= self.TEMPLATE_CACHE:
            cache.pop(next(iter(cache)))
        cache[key] = (history, *lengths)
        return lengths

    @abstractmethod
    def verbalize_batch(
        self, histories: Sequence[History], catalog: Catalog
    ) -> list[Verbalization]:
        """Verbalize many histories at once (LLM verbalizers batch their generation)."""

    def verbalize(self, history: History, catalog: Catalog) -> Verbalization:
        return self.verbalize_batch([history], catalog)[0]

    def measure(
        self, text: str, history: History, catalog: Catalog, *, valid: bool = True, **meta: Any
    ) -> Verbalization:
        """Wrap ``text`` with its lengths and the template lengths of the same history."""
        template_chars, template_tokens = self.template_lengths(history, catalog)
        return Verbalization(
            text=text,
            chars=len(text),
            tokens=count_tokens(text, self.tokenizer),
            template_chars=template_chars,
            template_tokens=template_tokens,
            valid=valid,
            meta=meta,
        )


VERBALIZERS: Registry[type[Verbalizer]] = Registry("verbalizer", group="vtk.verbalizers")


class LLMVerbalizer(Verbalizer):
    """A verbalizer whose text comes from a constrained LLM call.

    Split into three pure steps so that inference and GRPO training share them:
    ``prompt`` (the user message), ``constraint`` (the grammar for this history) and
    ``decode`` (raw model output -> Verbalization, e.g. action codes -> executor). The
    Stage 1 trainer samples from its policy with the same prompt and constraint and scores
    ``decode``'s text with the oracle.
    """

    def __init__(
        self,
        generator: Any = None,
        *,
        tokenizer: TokenCounter | None = None,
        domain: str = "streaming",
        params: Any = None,
    ):
        super().__init__(tokenizer)
        self.generator = generator
        self.domain = domain
        self.params = params

    @abstractmethod
    def prompt(self, history: History, catalog: Catalog) -> str:
        """The user message for this history."""

    @abstractmethod
    def constraint(self, history: History, catalog: Catalog) -> Any:
        """The ``grammars.base.Constraint`` for this history, or None for free text."""

    @abstractmethod
    def decode(self, output: str, history: History, catalog: Catalog) -> Verbalization:
        """Turn one raw model output into a Verbalization (``valid=False`` if unusable)."""

    def verbalize_batch(
        self, histories: Sequence[History], catalog: Catalog
    ) -> list[Verbalization]:
        if self.generator is None:
            raise ValueError(f"{self.name} verbalizer needs a generator (an LLM backend)")
        prompts = [self.prompt(h, catalog) for h in histories]
        constraints = [self.constraint(h, catalog) for h in histories]
        outputs = self.generator.generate(prompts, constraints, n=1, params=self.params)
        results = []
        for history, (completion,) in zip(histories, outputs, strict=True):
            verbalization = self.decode(completion.text, history, catalog)
            verbalization.meta.setdefault("output", completion.text)
            verbalization.meta.setdefault("finish_reason", completion.finish_reason)
            results.append(verbalization)
        return results
