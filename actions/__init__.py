"""The action DSL: terms, programs of one step per interaction, domains, and ``execute``.

>>> from toolkit.records import Catalog, History, Interaction, Item
>>> catalog = Catalog([Item(item_id="1", title="Kolya", year=1996, genres=("Comedy",))])
>>> history = History(user_id="u", interactions=(Interaction(item_id="1", event="thumb_up"),))
>>> execute(program_from_codes(["enrich"], "streaming"), history, catalog).text
'Kolya (1996), Thumb Up; genres: Comedy'
"""

from __future__ import annotations

from actions.domains import DOMAINS, Domain, get_domain
from actions.executor import execute
from actions.program import Program, check_program, program_from_codes, validate_program
from actions.terms import ActionError, Aggregate, Annotate, Drop, Enrich, Keep, Step, Term

__all__ = [
    "DOMAINS",
    "ActionError",
    "Aggregate",
    "Annotate",
    "Domain",
    "Drop",
    "Enrich",
    "Keep",
    "Program",
    "Step",
    "Term",
    "check_program",
    "execute",
    "get_domain",
    "program_from_codes",
    "validate_program",
]
