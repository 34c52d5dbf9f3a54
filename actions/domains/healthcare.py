"""Healthcare (Synthea-style records): an item is a coded concept (condition, medication,
procedure...) with ``attrs`` ``code``, ``system`` (SNOMED-CT, RxNorm...) and ``kind``.

No free-text annotations: a note invented by an LLM about a patient is not a record.
Critical: allergies and active medications (``active: yes``: no stop date) are always
shown as recorded, whatever a plan says. The rewrite shape is the ``clinical_summary``.
"""

from __future__ import annotations

from actions.domains.base import DOMAINS, Domain
from actions.domains.rules import Match
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
    events={
        "encounter": "Visit",
        "condition": "Diagnosed",
        "medication": "Prescribed",
        "procedure": "Procedure",
        "immunization": "Immunized",
        "allergy": "Allergy",
    },
    critical=(Match(event="allergy"), Match(event="medication", attrs={"active": "yes"})),
    noise=(Match(event="encounter", attrs={"encounter_class": "wellness"}),),
    grammars={"rewrite": "clinical_summary"},
    aspect_fields=("kind",),
    description="Synthea-style patient records: coded conditions, medications, visits",
)

DOMAINS.add("healthcare", HEALTHCARE)
