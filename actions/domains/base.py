"""A domain: one bundle of what vtk needs to know about one kind of log.

The action set (``codes``: each short code an LLM may emit -> the step of terms it stands
for; ``enrich_fields``, ``aggregate_keys``, ``terms``), the event wording of compact lines,
catalog fields derived from others (``derived``), *critical* interactions the executor never
drops or alters whatever a plan says, the *noise* the rule-based plan drops, the grammars
of its roles (``plan``, ``rewrite``) and the folder of its prompt templates. The grammar
helper builds the enum of allowed codes from ``Domain.codes``; prompts show
``Domain.describe()``. A domain checks itself when it is built, so a typo in a user's
domain fails where it is defined, not mid-training.

Domains are found by name (``get_domain``): the built-ins, folders with a ``domain.yaml``
on ``$VTK_DOMAINS_PATH`` (``actions.domains.folder``), entry points of the group
``vtk.domains``, dotted paths, or a path to a domain folder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from actions.domains.rules import Derived, Match
from actions.terms import BASE_TERMS, TERMS, ActionError, Aggregate, Drop, Enrich, Term
from toolkit.registry import Registry

ROLES = ("plan", "rewrite")
"""Grammar roles: the ``actions`` verbalizer's plan, the ``rewrite`` verbalizer's shape."""
DEFAULT_GRAMMARS = {"plan": "action_plan", "rewrite": "rewrite"}


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
    events: Mapping[str, str] = field(default_factory=dict)
    """Event -> its wording in compact lines (``purchase`` -> ``Bought``)."""
    derived: tuple[Derived, ...] = ()
    critical: tuple[Match, ...] = ()
    """Interactions shown as their plain line whatever the plan says (never dropped,
    merged or annotated)."""
    noise: tuple[Match, ...] = ()
    """Interactions the rule-based plan drops (accessories, previews)."""
    grammars: Mapping[str, str] = field(default_factory=dict)
    """Role (``plan``, ``rewrite``) -> grammar name; missing roles use the defaults."""
    aspect_fields: tuple[str, ...] = ("genres", "tags")
    """Item fields a rewrite's preferences may name."""
    prompts: str | None = None
    """Folder of this domain's own prompt templates (searched before the built-ins)."""
    description: str = ""
    origin: str = "built-in"
    """Where the domain was defined (``built-in``, a folder, an entry point)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "derived", tuple(self.derived))
        object.__setattr__(self, "critical", tuple(self.critical))
        object.__setattr__(self, "noise", tuple(self.noise))
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
        problems += [
            f"domain {self.name!r}: unknown grammar role {role!r}; roles: {', '.join(ROLES)}"
            for role in self.grammars
            if role not in ROLES
        ]
        names = [d.name for d in self.derived]
        problems += [
            f"domain {self.name!r}: derived field {n!r} is defined twice"
            for n in sorted({n for n in names if names.count(n) > 1})
        ]
        if problems:
            raise ActionError(problems)

    def __hash__(self) -> int:  # dict fields: hash their items so a Domain can key a cache
        codes = tuple(self.codes.items())
        return hash(
            (
                self.name,
                codes,
                self.enrich_fields,
                self.aggregate_keys,
                self.terms,
                tuple(self.events.items()),
                self.derived,
                self.critical,
                self.noise,
                tuple(self.grammars.items()),
                self.aspect_fields,
                self.prompts,
            )
        )

    def grammar(self, role: str) -> str:
        """The grammar name of ``role`` (``plan`` or ``rewrite``) in this domain."""
        if role not in ROLES:
            raise ActionError(f"unknown grammar role {role!r}; roles: {', '.join(ROLES)}")
        return self.grammars.get(role, DEFAULT_GRAMMARS[role])

    def wording(self, event: str) -> str:
        """How compact lines name ``event``: the domain's word, else ``Thumb Up`` style."""
        return self.events.get(event) or event.replace("_", " ").title()

    def derived_field(self, name: str) -> Derived | None:
        return next((d for d in self.derived if d.name == name), None)

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


def load_builtins() -> None:
    """Import the built-in domains and register the folder domains on the search path."""
    import importlib

    from actions.domains.folder import register_path_domains

    for module in _BUILTINS:
        importlib.import_module(f"actions.domains.{module}")
    register_path_domains()


def domain_names() -> list[str]:
    """Every domain findable by name: built-ins, folders on the path, entry points."""
    load_builtins()
    return DOMAINS.names()


def get_domain(name: str | Domain) -> Domain:
    """The domain registered as ``name`` (built-ins, folders on ``$VTK_DOMAINS_PATH``,
    entry points, ``module:attr`` paths) or the domain folder at path ``name``; a
    ``Domain`` passes through."""
    if isinstance(name, Domain):
        return name
    load_builtins()
    if name not in DOMAINS:
        from actions.domains.folder import is_domain_folder, load_folder

        if is_domain_folder(name):
            return load_folder(name)
    domain = DOMAINS.get(name)
    if not isinstance(domain, Domain):
        raise ActionError(f"{name!r} is not an action Domain (got {type(domain).__name__})")
    return domain
