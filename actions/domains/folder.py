"""A domain as a folder with no Python: ``domain.yaml`` + JSON Schemas + Jinja prompts.

::

    my-domain/
      domain.yaml          # name, codes -> terms, fields, events, critical, noise, grammars
      grammars/*.json      # registered as grammars "<name>/<stem>" (also .lark, .regex)
      prompts/*.j2         # this domain's prompts, searched before the built-ins

In ``domain.yaml`` a step is a list of terms, each a word (``keep``, ``drop``) or a one-key
mapping (``{enrich: [brand]}``, ``{aggregate: category}``, ``{annotate: liked}``); a
grammar role names a grammar (``rewrite``) or a file of the folder (``grammars/x.json``).
Every problem of the file is reported at once, each with its file, line and field.

Folders on ``$VTK_DOMAINS_PATH`` (entries separated by ``:``; each a domain folder or a
folder of them) are found by name; any command that takes a domain also takes its path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from actions.domains.base import _BUILTINS, DOMAINS, ROLES, Domain
from actions.domains.rules import Derived, Match
from actions.terms import TERMS, ActionError, Aggregate, Annotate, Drop, Enrich, Keep, Term
from toolkit.errors import ConfigError

DOMAIN_FILE = "domain.yaml"
PATH_VARIABLE = "VTK_DOMAINS_PATH"
GRAMMAR_SUFFIXES = (".json", ".lark", ".regex")
_WORDS = {"keep": Keep, "drop": Drop}
_KEYED = {"enrich": Enrich, "aggregate": Aggregate, "annotate": Annotate}
_TERM_NAMES = {t.__name__.lower(): t for t in TERMS}


class DerivedSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    pattern: str = Field(min_length=1)
    source: str = "title"
    value: str | None = None
    aliases: dict[str, str] = {}
    ignore_case: bool = False


class MatchSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: str | list[str] | None = None
    attrs: dict[str, str] = {}
    fields: dict[str, str] = {}


class DomainSpec(BaseModel):
    """What ``domain.yaml`` holds."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")
    description: str = ""
    codes: dict[str, list[str | dict[str, Any]]]
    default_code: str = "keep"
    enrich_fields: list[str] = []
    aggregate_keys: list[str] = ["item"]
    terms: list[str] = [t.__name__.lower() for t in TERMS]
    events: dict[str, str] = {}
    derived: list[DerivedSpec] = []
    critical: list[MatchSpec] = []
    noise: list[MatchSpec] = []
    aspect_fields: list[str] = ["genres", "tags"]
    grammars: dict[str, str] = {}
    prompts: str | None = None


def is_domain_folder(path: str | Path) -> bool:
    try:
        return (Path(path) / DOMAIN_FILE).is_file()
    except (OSError, ValueError):
        return False


def _term(raw: Any) -> Term:
    if isinstance(raw, str) and raw in _WORDS:
        return _WORDS[raw]()
    if isinstance(raw, dict) and len(raw) == 1:
        ((key, value),) = raw.items()
        if key in _KEYED:
            if key == "enrich" and isinstance(value, list):
                value = tuple(value)
            return _KEYED[key](value)
    words = ", ".join([*_WORDS, *(f"{{{k}: ...}}" for k in _KEYED)])
    raise ActionError(f"unknown term {raw!r}; terms: {words}")


class _Problems:
    """Collects ``file:line: field: message`` lines."""

    def __init__(self, file: Path, source: str):
        self.file, self.source, self.lines = file, source, []

    def line_of(self, loc: tuple[Any, ...]) -> int | None:
        """The line of the deepest key of ``loc`` found below its parents (list indices
        count the list's items)."""
        import re

        rows = self.source.splitlines()
        start, found = 0, None
        for part in loc:
            if isinstance(part, int):
                if found is None:
                    continue
                items = [i for i in range(start, len(rows)) if re.match(r"\s*- ", rows[i])]
                inline = rows[found - 1].split(":", 1)[-1].strip().startswith("[")
                if not inline and part < len(items):
                    found, start = items[part] + 1, items[part] + 1
                continue
            for i in range(start, len(rows)):
                if re.match(rf"\s*-?\s*{re.escape(str(part))}\s*:", rows[i]):
                    found, start = i + 1, i + 1
                    break
            else:
                break
        return found

    def add(self, loc: tuple[Any, ...], message: str) -> None:
        line = self.line_of(loc) if loc else None
        where = f"{self.file}:{line}" if line else str(self.file)
        field = ".".join(str(p) for p in loc)
        self.lines.append(f"{where}: {field + ': ' if field else ''}{message}")


def read_spec(folder: Path) -> tuple[DomainSpec, _Problems]:
    """The parsed ``domain.yaml`` of ``folder`` and its problems so far (ConfigError when the
    file cannot be read at all)."""
    import yaml

    file = folder / DOMAIN_FILE
    if not file.is_file():
        raise ConfigError(f"{folder}: not a domain folder (no {DOMAIN_FILE})")
    source = file.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(source) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}" if mark is not None else str(file)
        raise ConfigError(f"{where}: invalid YAML ({getattr(exc, 'problem', exc)})") from None
    problems = _Problems(file, source)
    if not isinstance(data, dict):
        raise ConfigError(f"{file}:1: the top level must be a mapping")
    try:
        return DomainSpec.model_validate(data), problems
    except ValidationError as exc:
        for err in exc.errors():
            problems.add(tuple(err["loc"]), err["msg"])
        message = f"{len(problems.lines)} problem(s):\n" + "\n".join(problems.lines)
        raise ConfigError(message) from None


def folder_grammars(folder: Path, name: str) -> dict[str, Path]:
    """Grammar name (``<domain>/<stem>``) -> file, for the files under ``grammars/``."""
    found = sorted((folder / "grammars").glob("*")) if (folder / "grammars").is_dir() else []
    return {f"{name}/{f.stem}": f for f in found if f.suffix in GRAMMAR_SUFFIXES}


def build_domain(folder: Path, spec: DomainSpec, problems: _Problems) -> Domain | None:
    """The ``Domain`` of a parsed spec; None with ``problems`` filled when it has any."""
    codes: dict[str, tuple[Term, ...]] = {}
    for code, raw_step in spec.codes.items():
        step = []
        for i, raw in enumerate(raw_step):
            try:
                step.append(_term(raw))
            except ActionError as exc:
                problems.add(("codes", code, i), "; ".join(exc.problems))
        codes[code] = tuple(step)
    terms = []
    for name in spec.terms:
        if name in _TERM_NAMES:
            terms.append(_TERM_NAMES[name])
        else:
            problems.add(("terms",), f"unknown term {name!r}; terms: {', '.join(_TERM_NAMES)}")
    derived, critical, noise = [], [], []
    for i, d in enumerate(spec.derived):
        try:
            derived.append(Derived(d.name, d.pattern, d.source, d.value, d.aliases, d.ignore_case))
        except ActionError as exc:
            problems.add(("derived", i, "pattern"), "; ".join(exc.problems))
    for key, specs, out in (("critical", spec.critical, critical), ("noise", spec.noise, noise)):
        for i, m in enumerate(specs):
            try:
                out.append(Match(m.event, m.attrs, m.fields))
            except ActionError as exc:
                problems.add((key, i), "; ".join(exc.problems))
    grammars = {}
    own = folder_grammars(folder, spec.name)
    for role, ref in spec.grammars.items():
        if role not in ROLES:
            problems.add(("grammars", role), f"unknown role; roles: {', '.join(ROLES)}")
            continue
        path = folder / ref
        if Path(ref).suffix in GRAMMAR_SUFFIXES:
            if not path.is_file():
                problems.add(("grammars", role), f"no such grammar file: {path}")
                continue
            ref = f"{spec.name}/{path.stem}"
            if own.get(ref) != path and path.parent != folder / "grammars":
                problems.add(("grammars", role), "grammar files live in the grammars/ folder")
                continue
        grammars[role] = ref
    prompts = folder / (spec.prompts or "prompts")
    if spec.prompts is not None and not prompts.is_dir():
        problems.add(("prompts",), f"no such folder: {prompts}")
    if problems.lines:
        return None
    try:
        return Domain(
            name=spec.name,
            codes=codes,
            enrich_fields=tuple(spec.enrich_fields),
            aggregate_keys=tuple(spec.aggregate_keys),
            terms=tuple(terms),
            default_code=spec.default_code,
            events=dict(spec.events),
            derived=tuple(derived),
            critical=tuple(critical),
            noise=tuple(noise),
            grammars=grammars,
            aspect_fields=tuple(spec.aspect_fields),
            prompts=str(prompts.resolve()) if prompts.is_dir() else None,
            description=spec.description,
            origin=str(folder.resolve()),
        )
    except ActionError as exc:
        for p in exc.problems:
            field = "default_code" if "default code" in p else "codes"
            problems.add((field,), p)
        return None


def load_folder(path: str | Path, *, register: bool = True) -> Domain:
    """The domain of folder ``path``; registers it (and its grammars) under its name.
    Raises ConfigError listing every problem of ``domain.yaml``."""
    folder = Path(path)
    spec, problems = read_spec(folder)
    domain = build_domain(folder, spec, problems)
    if domain is None:
        raise ConfigError(f"{len(problems.lines)} problem(s):\n" + "\n".join(problems.lines))
    if domain.name in _BUILTINS:
        raise ConfigError(f"{folder / DOMAIN_FILE}: name {domain.name!r} is a built-in domain")
    if register:
        DOMAINS.add(domain.name, domain, replace=True)
        from grammars.domains import register_folder_grammars

        register_folder_grammars(folder_grammars(folder, domain.name))
    return domain


def path_folders(value: str | None = None) -> list[Path]:
    """Domain folders named by ``$VTK_DOMAINS_PATH`` (or ``value``), in order."""
    value = os.environ.get(PATH_VARIABLE, "") if value is None else value
    folders = []
    for entry in filter(None, value.split(os.pathsep)):
        root = Path(entry).expanduser()
        if is_domain_folder(root):
            folders.append(root)
        elif root.is_dir():
            folders += sorted(p for p in root.iterdir() if is_domain_folder(p))
    return folders


_loaded: dict[str, str] = {}


def forget_folder_domains() -> None:
    """Unregister every domain loaded from a folder, and its grammars."""
    from grammars.domains import FOLDER_GRAMMARS

    for name, domain in list(DOMAINS._items.items()):
        if isinstance(domain, Domain) and domain.origin != "built-in":
            del DOMAINS._items[name]
    FOLDER_GRAMMARS.clear()
    _loaded.clear()


def register_path_domains() -> None:
    """Load each folder on the path once; when the variable changes, the domains of the
    old path are forgotten and those of the new one loaded."""
    value = os.environ.get(PATH_VARIABLE, "")
    if _loaded.get("value") == value:
        return
    if "value" in _loaded:
        forget_folder_domains()
    _loaded["value"] = value
    for folder in path_folders(value):
        load_folder(folder)
