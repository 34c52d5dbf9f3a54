"""Check a domain folder before a run depends on it: every problem at once.

Errors: ``domain.yaml`` fields that are missing, unknown or of the wrong type; unknown
terms; enrich fields, aggregate keys or rule fields the domain does not define; grammar
files that are not valid or could not close inside a token budget (an unbounded string or
array); prompts that read variables no caller provides, or an ``actions`` prompt that
shows none of the codes. Each names its file, line where known, and field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from actions.domains.folder import DOMAIN_FILE, build_domain, folder_grammars, read_spec
from toolkit.errors import ConfigError

CORE_FIELDS = ("item", "title", "year", "genres", "tags", "description", "series")
"""Fields every catalog item has (``item`` is its id; ``series`` falls back to it)."""


@dataclass
class DomainReport:
    """What ``check_folder`` found; ``ok`` when there is no error."""

    path: str
    name: str | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    """The files that were read."""

    @property
    def ok(self) -> bool:
        return not self.errors


def _line(text: str, word: str) -> int | None:
    for lineno, line in enumerate(text.splitlines(), 1):
        if re.search(rf"\b{re.escape(word)}\b", line):
            return lineno
    return None


def check_folder(path: str | Path) -> DomainReport:
    """Every problem of the domain folder ``path``."""
    folder = Path(path)
    report = DomainReport(str(folder))
    try:
        spec, problems = read_spec(folder)
    except ConfigError as exc:
        lines = str(exc).splitlines()
        report.errors += lines[1:] if len(lines) > 1 else lines
        return report
    report.name = spec.name
    report.checked.append(str(folder / DOMAIN_FILE))
    domain = build_domain(folder, spec, problems)
    known = set(CORE_FIELDS) | set(spec.enrich_fields) | set(spec.aggregate_keys)
    known |= {d.name for d in spec.derived}
    for i, d in enumerate(spec.derived):
        if d.source not in known:
            problems.add(("derived", i, "source"), f"unknown field {d.source!r}")
    for key in ("critical", "noise"):
        for i, rule in enumerate(getattr(spec, key)):
            for name in rule.fields:
                if name not in known:
                    problems.add((key, i, "fields", name), f"unknown field {name!r}")
    for name in spec.aspect_fields:
        if name not in known:
            problems.add(("aspect_fields",), f"unknown field {name!r}")
    report.errors += problems.lines
    _check_grammars(folder, spec.name, report)
    _check_prompts(folder / (spec.prompts or "prompts"), list(spec.codes), report)
    if domain is not None and not report.errors:
        for role, grammar in domain.grammars.items():
            if "/" not in grammar:
                from grammars import get_grammar

                try:
                    get_grammar(grammar)
                except Exception as exc:  # any lookup failure is the user's to fix
                    report.errors.append(f"{folder / DOMAIN_FILE}: grammars.{role}: {exc}")
    return report


def _check_grammars(folder: Path, name: str, report: DomainReport) -> None:
    from grammars.base import GrammarError
    from grammars.check import check_file

    for file in folder_grammars(folder, name).values():
        report.checked.append(str(file))
        try:
            result = check_file(file)
        except (GrammarError, ConfigError) as exc:
            report.errors.append(f"{file}: {exc}")
            continue
        except Exception as exc:  # an InputError names file and line itself
            report.errors.append(str(exc))
            continue
        report.errors += [f"{file}: {issue}" for issue in result.errors]
        report.errors += [
            f"{file}: {issue} (an output could run past any token budget: bound it)"
            for issue in result.warnings
        ]


def _check_prompts(folder: Path, codes: list[str], report: DomainReport) -> None:
    import jinja2
    import jinja2.meta

    from prompts.variables import PROVIDED

    if not folder.is_dir():
        return
    env = jinja2.Environment()
    for file in sorted(folder.rglob("*.j2")):
        report.checked.append(str(file))
        text = file.read_text(encoding="utf-8")
        try:
            ast = env.parse(text)
        except jinja2.TemplateSyntaxError as exc:
            report.errors.append(f"{file}:{exc.lineno}: invalid template ({exc.message})")
            continue
        provided = PROVIDED.get(file.stem)
        if provided is None:
            known = ", ".join(sorted(PROVIDED))
            report.warnings.append(f"{file}: no caller renders a prompt {file.stem!r} ({known})")
            continue
        for name in sorted(jinja2.meta.find_undeclared_variables(ast) - provided):
            line = _line(text, name)
            where = f"{file}:{line}" if line else str(file)
            report.errors.append(
                f"{where}: variable {name!r} is not provided to the {file.stem} prompt; "
                f"it gets: {', '.join(sorted(provided))}"
            )
        if file.stem == "actions":
            extends = any(t for t in jinja2.meta.find_referenced_templates(ast))
            shows = "codes" in jinja2.meta.find_undeclared_variables(ast) or extends
            missing = [c for c in codes if not re.search(rf"\b{re.escape(c)}\b", text)]
            if not shows and missing:
                report.errors.append(
                    f"{file}: the actions prompt shows neither {{{{ codes }}}} nor the codes "
                    f"{', '.join(missing)}"
                )
