"""A domain's action set: which codes an LLM may emit and which terms and fields exist.

The LLM's action plan is a JSON array of short codes, one per interaction; ``codes`` maps
each code to the step (tuple of terms) it stands for. The grammar helper builds the enum of
allowed codes from ``Domain.codes``; prompts show ``Domain.describe()``. A domain checks its
own codes when it is built, so a typo in a user's domain fails at import, not mid-training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from actions.terms import BASE_TERMS, TERMS, ActionError, Aggregate, Drop, Enrich, Term
from toolkit.registry import Registry


def _names(types: Sequence[type]) -> str:
    return ", ".join(t.__name__ for t in types)


@dataclass(frozen=True)
class Domain:
    """The codes, terms and fields one kind of log (streaming, ecommerce...) allows."""

    name: str
    codes: dict[str, tuple[Term, ...]]
    enrich_fields: tuple[str, ...]
    aggregate_keys: tuple[str, ...]
    terms: tuple[type, ...]
    default_code: str

    def __post_init__(self) -> None:
        problems = []
        if not self.codes:
            problems.append(f"domain {self.name!r} defines no codes")
        if self.default_code not in self.codes:
            problems.append(
                f"domain {self.name!r}: default code {self.default_code!r} is not one of its "
                f"codes ({', '.join(self.codes)})"
            )
        for code, step in self.codes.items():
            if not isinstance(code, str) or not code or code != code.strip():
                problems.append(f"domain {self.name!r}: code {code!r} must be a non-empty word")
            problems += [
                f"domain {self.name!r}, code {code!r}: {p}" for p in self.step_problems(step)
            ]
        if problems:
            raise ActionError(problems)

    def __hash__(self) -> int:  # codes is a dict; hash its items so a Domain can key a cache
        codes = tuple(self.codes.items())
        return hash((self.name, codes, self.enrich_fields, self.aggregate_keys, self.terms))

    def step_problems(self, step: object) -> list[str]:
        """Every reason ``step`` cannot run in this domain (empty when it can)."""
        if not isinstance(step, tuple):
            return [f"a step must be a tuple of terms, got {type(step).__name__} {step!r}"]
        problems = []
        for term in step:
            if type(term) not in TERMS:
                problems.append(
                    f"unknown term {type(term).__name__} {term!r}; known terms: {_names(TERMS)}"
                )
            elif type(term) not in self.terms:
                problems.append(
                    f"term {type(term).__name__} is not allowed in domain {self.name!r}; "
                    f"allowed: {_names(self.terms)}"
                )
            elif isinstance(term, Enrich):
                problems += [
                    f"unknown enrich field {f!r} in domain {self.name!r}; "
                    f"allowed: {', '.join(self.enrich_fields)}"
                    for f in term.fields
                    if f not in self.enrich_fields
                ]
            elif isinstance(term, Aggregate) and term.by not in self.aggregate_keys:
                problems.append(
                    f"unknown aggregate key {term.by!r} in domain {self.name!r}; "
                    f"allowed: {', '.join(self.aggregate_keys)}"
                )
        bases = [t for t in step if isinstance(t, BASE_TERMS)]
        if not bases:
            problems.append(f"a step needs one of {_names(BASE_TERMS)}, got {step!r}")
        elif len(bases) > 1:
            problems.append(f"a step takes one of {_names(BASE_TERMS)}, got {bases!r}")
        elif isinstance(bases[0], Drop) and len(step) > 1:
            problems.append(f"Drop cannot be combined with other terms, got {step!r}")
        return problems

    def describe(self) -> str:
        """One line per code (``enrich: keep the line + add genres``), for prompts.

        >>> print(get_domain("streaming").describe().splitlines()[0])
        keep: keep the line
        """
        return "\n".join(
            f"{code}: {' + '.join(term.describe() for term in step)}"
            for code, step in self.codes.items()
        )


DOMAINS: Registry[Domain] = Registry("action domain", group="vtk.domains")

_BUILTINS = ("streaming", "ecommerce", "healthcare")


def get_domain(name: str | Domain) -> Domain:
    """The domain registered as ``name`` (built-ins, entry points, ``module:attr`` paths);
    a ``Domain`` passes through."""
    if isinstance(name, Domain):
        return name
    import importlib

    for module in _BUILTINS:
        importlib.import_module(f"actions.domains.{module}")
    domain = DOMAINS.get(name)
    if not isinstance(domain, Domain):
        raise ActionError(f"{name!r} is not an action Domain (got {type(domain).__name__})")
    return domain
