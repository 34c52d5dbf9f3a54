"""What each prompt is rendered with: the variables its caller provides.

A template may read only these (``vtk domains check`` says which it reads that no caller
gives); the ``actions`` prompt must show the codes (``codes``, or every code written out).
"""

from __future__ import annotations

PROVIDED: dict[str, frozenset[str]] = {
    "actions": frozenset({"lines", "n", "codes", "numbered"}),
    "reasoner": frozenset({"context", "candidates"}),
    "rewrite": frozenset({"history", "schema_hint"}),
    "zero_shot": frozenset({"history"}),
}
"""Prompt name -> the variables the verbalizer or reasoner renders it with."""
