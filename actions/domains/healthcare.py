"""Healthcare (Synthea-style records): an item is a coded concept (condition, medication,
procedure...) with ``attrs`` ``code``, ``system`` (SNOMED-CT, RxNorm...) and ``kind``.

No free-text annotations: a note invented by an LLM about a patient is not a record.
"""

from __future__ import annotations

from actions.domains.base import DOMAINS, Domain
from actions.terms import Aggregate, Drop, Enrich, Keep

HEALTHCARE = Domain(
    name="healthcare",
    codes={
        "keep": (Keep(),),
        "drop": (Drop(),),
        "coded": (Keep(), Enrich(("system", "code"))),
        "kind": (Keep(), Enrich(("kind",))),
        "repeat": (Aggregate("item"),),
        "group": (Aggregate("kind"),),
    },
    enrich_fields=("code", "description", "system", "kind"),
    aggregate_keys=("item", "kind", "code"),
    terms=(Keep, Drop, Aggregate, Enrich),
    default_code="keep",
)

DOMAINS.add("healthcare", HEALTHCARE)
