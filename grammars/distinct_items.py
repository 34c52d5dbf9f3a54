"""A JSON array of distinct enumerated items, as a Lark grammar for llguidance.

JSON Schema cannot say "no two items name the same title" in a way a decoder enforces
(llguidance ignores ``uniqueItems``), so a constrained 135M model was free to write one
title six times. A context-free grammar can say it when the choices are known and their
order is fixed: the array is an ordered subset of the choices (each at most once, in the
listed order, at most ``max_items``), built from ``n x max_items`` small rules
``s_i_c: e_i | e_i "," s_{i+1}_{c+1} | s_{i+1}_c`` (item ``i`` starts the rest, or is
skipped), which is unambiguous and linear in size. The other fields keep their JSON
Schemas through llguidance's ``%json`` rules, so everything else is exactly what the
schema constraint allowed, in the same compact JSON (no whitespace, fields in order).

>>> text = distinct_array_lark(["A", "B"], 2, lambda i: "e_%d" % i)
>>> print(text)
s_0_0: e_0 | e_0 "," s_1_1 | s_1_0
s_1_0: e_1
s_1_1: e_1
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence


def literal(text: str) -> str:
    """A Lark string literal matching exactly ``text``."""
    return json.dumps(text, ensure_ascii=False)


def json_string(value: str) -> str:
    """The JSON spelling of a string that llguidance's schema constraint writes: raw UTF-8,
    only ``"`` and ``\\`` (and control characters) escaped."""
    return json.dumps(value, ensure_ascii=False)


def distinct_array_lark(choices: Sequence[str], max_items: int, item: Callable[[int], str]) -> str:
    """Rules ``s_i_c`` deriving every non-empty ordered subset of ``choices`` with at most
    ``max_items`` elements, joined by ``,``; ``item(i)`` names the rule of choice ``i``.
    The array's body is ``s_0_0?``. Empty when there are no choices or ``max_items`` < 1."""
    n = len(choices)
    lines = []
    for i in range(n):
        for c in range(max_items):
            if c > i:  # c items taken from the i before: unreachable
                continue
            alts = [item(i)]
            if i + 1 < n and c + 1 < max_items:
                alts.append(f'{item(i)} "," s_{i + 1}_{c + 1}')
            if i + 1 < n:
                alts.append(f"s_{i + 1}_{c}")
            lines.append(f"s_{i}_{c}: " + " | ".join(alts))
    return "\n".join(lines)
