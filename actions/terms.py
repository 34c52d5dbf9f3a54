"""The terms of the action DSL: what may happen to one interaction of a history.

Three steps, as in Outlines' type DSL: (1) small frozen term classes, (2) composition with
``+`` into a *step* (the terms applied to one interaction), (3) one pure function,
``actions.executor.execute``, that turns a program of steps into text and raises
``TypeError`` for any term it does not know.

A step holds exactly one *base* term (``Keep``, ``Drop`` or ``Aggregate``) and any number of
*modifiers* (``Enrich``, ``Annotate``) when it is not a ``Drop``:

>>> Keep() + Enrich("genres")
(Keep(), Enrich(fields=('genres',)))
>>> (Keep(), Enrich("genres")) + Annotate("liked")
(Keep(), Enrich(fields=('genres',)), Annotate(text='liked'))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from toolkit.errors import VtkError

ANNOTATION_MAX_CHARS = 40
"""Annotations are short notes (``liked``, ``rewatch``); a line stays one line."""


class ActionError(VtkError):
    """A program, code list or term the executor cannot run; lists every problem."""

    def __init__(self, problems: str | list[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Term:
    """Base of all terms; ``+`` composes terms into a step (a tuple of terms)."""

    base: ClassVar[bool] = False
    """Base terms decide whether and how a line appears; modifiers only add to it."""

    def describe(self) -> str:
        """A few words for prompts (``Domain.describe``)."""
        raise NotImplementedError

    def __add__(self, other: object) -> tuple[Term, ...]:
        if isinstance(other, Term):
            return (self, other)
        if isinstance(other, tuple):
            return (self, *other)
        return NotImplemented

    def __radd__(self, other: object) -> tuple[Term, ...]:
        if isinstance(other, tuple):
            return (*other, self)
        return NotImplemented


@dataclass(frozen=True)
class Keep(Term):
    """Show the interaction as one compact line."""

    base: ClassVar[bool] = True

    def describe(self) -> str:
        return "keep the line"


@dataclass(frozen=True)
class Drop(Term):
    """Leave the interaction out (noise: previews, accidental clicks)."""

    base: ClassVar[bool] = True

    def describe(self) -> str:
        return "remove the line"


@dataclass(frozen=True)
class Aggregate(Term):
    """Merge a maximal run of consecutive (after drops) aggregated interactions that share
    the key ``by`` (``item``, ``series`` or a catalog field) into one summary line."""

    by: str
    base: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if not isinstance(self.by, str) or not self.by:
            raise ActionError(f"Aggregate(by=...) needs a non-empty key name, got {self.by!r}")

    def describe(self) -> str:
        return f"merge with neighbouring lines of the same {self.by}"


@dataclass(frozen=True)
class Enrich(Term):
    """Append catalog metadata (``genres``, ``year``, ``tags``, ``description``, or any
    item attribute the domain allows) to the line. A single name may be given as a string."""

    fields: tuple[str, ...]

    def __post_init__(self) -> None:
        fields = (self.fields,) if isinstance(self.fields, str) else tuple(self.fields)
        bad = [f for f in fields if not isinstance(f, str) or not f]
        if not fields or bad:
            raise ActionError(f"Enrich(fields=...) needs non-empty field names, got {fields!r}")
        object.__setattr__(self, "fields", fields)

    def describe(self) -> str:
        return "add " + ", ".join(self.fields)


@dataclass(frozen=True)
class Annotate(Term):
    """Add a short note to the line, shown as ``[text]``."""

    text: str

    def __post_init__(self) -> None:
        text = self.text
        if not isinstance(text, str) or not text.strip() or "\n" in text or "\r" in text:
            raise ActionError(f"Annotate(text=...) needs one non-empty line, got {text!r}")
        if len(text) > ANNOTATION_MAX_CHARS:
            raise ActionError(
                f"Annotate text {text!r} has {len(text)} characters; "
                f"at most {ANNOTATION_MAX_CHARS} are allowed"
            )

    def describe(self) -> str:
        return f'mark "{self.text}"'


TERMS: tuple[type[Term], ...] = (Keep, Drop, Aggregate, Enrich, Annotate)
"""Every term the executor can run, in the order prompts list them."""

BASE_TERMS: tuple[type[Term], ...] = tuple(t for t in TERMS if t.base)

Step = tuple[Term, ...]
"""The terms applied to one interaction."""
