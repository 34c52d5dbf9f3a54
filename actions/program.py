"""Programs: one step (tuple of terms) per interaction, in history order.

An LLM emits codes (``["keep", "drop", "series"]``); ``program_from_codes`` looks each up
in the domain. Validation collects every problem before raising, so one error message shows
all the bad codes or terms of a plan.

>>> from actions.domains import get_domain
>>> program_from_codes(["keep", "drop"], get_domain("streaming"))
((Keep(),), (Drop(),))
"""

from __future__ import annotations

from collections.abc import Sequence

from actions.domains.base import Domain, get_domain
from actions.terms import ActionError, Step

Program = tuple[Step, ...]
"""One step per interaction of the history, oldest first."""


def program_from_codes(
    codes: Sequence[str], domain: Domain | str = "streaming", *, n: int | None = None
) -> Program:
    """The program a code list stands for. ``n``, when given, is the history length the
    plan must match. Raises ``ActionError`` naming every unknown code and the allowed ones."""
    domain = get_domain(domain)
    if isinstance(codes, str):
        raise ActionError(f"codes must be a list of strings, got the string {codes!r}")
    codes = list(codes)
    problems = []
    if n is not None and len(codes) != n:
        problems.append(f"the plan has {len(codes)} codes but the history has {n} interactions")
    allowed = ", ".join(domain.codes)
    problems += [
        f"unknown action code {code!r} at position {i} in domain {domain.name!r}; "
        f"allowed: {allowed}"
        for i, code in enumerate(codes)
        if not isinstance(code, str) or code not in domain.codes
    ]
    if problems:
        raise ActionError(problems)
    return tuple(domain.codes[code] for code in codes)


def validate_program(
    program: Sequence[Step], domain: Domain | str = "streaming", *, n: int | None = None
) -> list[str]:
    """Every problem of ``program`` in ``domain`` (empty when it runs); ``n`` is the
    history length it must match."""
    domain = get_domain(domain)
    problems = []
    if isinstance(program, (str, bytes)) or not isinstance(program, Sequence):
        return [f"a program must be a sequence of steps, got {type(program).__name__}"]
    if n is not None and len(program) != n:
        problems.append(
            f"the program has {len(program)} steps but the history has {n} interactions"
        )
    for i, step in enumerate(program):
        problems += [f"step {i}: {p}" for p in domain.step_problems(step)]
    return problems


def check_program(
    program: Sequence[Step], domain: Domain | str = "streaming", *, n: int | None = None
) -> Program:
    """``program`` as a tuple when valid; else ``ActionError`` listing every problem."""
    problems = validate_program(program, domain, n=n)
    if problems:
        raise ActionError(problems)
    return tuple(program)
