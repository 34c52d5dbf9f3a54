"""``vtk grammars``: list the output grammars, show one's constraint, check a grammar file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


def _context(n_interactions: int, n_candidates: int, domain: str, extra: str | None) -> Any:
    from grammars import GrammarContext

    try:
        extras = json.loads(extra) if extra else {}
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc.msg}", param_hint="--extra") from None
    if not isinstance(extras, dict):
        raise click.BadParameter("expected a JSON object", param_hint="--extra")
    return GrammarContext(n_interactions, n_candidates, domain, extras)


X_VTK_TYPES = {
    "engine": (str, "a string"),
    "max_tokens": (int, "a positive integer"),
    "description": (str, "a string"),
}


def precheck_schema(file: Path) -> None:
    """What a JSON grammar file must be before it is checked: readable UTF-8, JSON nested
    no deeper than vtk reads, and ``x-vtk`` settings of the right types (InputError)."""
    from toolkit.errors import InputError, Problem
    from toolkit.io import parse_json

    if not file.is_file():
        raise InputError.at("grammar file not found", file)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError.at(f"not UTF-8 text ({exc.reason})", file) from None
    try:
        value = parse_json(text, file)
    except InputError as exc:
        if "nested" in str(exc):
            raise
        return  # invalid JSON: the check itself reports it with its line
    settings = value.get("x-vtk") if isinstance(value, dict) else None
    if not isinstance(settings, dict):
        return
    problems = []
    for key, (kind, what) in X_VTK_TYPES.items():
        if key not in settings:
            continue
        got = settings[key]
        bad = not isinstance(got, kind) or isinstance(got, bool)
        if key == "max_tokens" and not bad:
            bad = got < 1
        if bad:
            problems.append(
                Problem(f"must be {what} (got {got!r})", str(file), None, f"x-vtk.{key}")
            )
    if problems:
        raise InputError(problems)


@click.group("grammars")
def command() -> None:
    """Output grammars: what LLM outputs must look like."""


@command.command("list")
def list_() -> None:
    """The registered grammars, with the kind and engine of their constraint."""
    from grammars import GrammarContext, get_grammar, grammar_names

    sample = GrammarContext(n_interactions=5)
    click.echo(f"{'name':<14} {'kind':<12} {'engine':<14} description")
    for name in grammar_names():
        grammar = get_grammar(name)
        constraint = grammar.constraint(sample)
        click.echo(
            f"{name:<14} {constraint.kind:<12} {constraint.engine:<14} {grammar.description}"
        )


@command.command("show")
@click.argument("name")
@click.option("--n-interactions", default=5, show_default=True, help="History length.")
@click.option("--n-candidates", default=10, show_default=True, help="Candidates to choose from.")
@click.option("--domain", default="streaming", show_default=True, help="Action domain.")
@click.option("--extra", help='Extra context as JSON, e.g. \'{"titles": ["Heat"]}\'.')
@click.option("--raw", is_flag=True, help="Print only the constraint text, unindented.")
def show(
    name: str, n_interactions: int, n_candidates: int, domain: str, extra: str | None, raw: bool
) -> None:
    """The constraint grammar NAME (a name, dotted path or file) builds for one context."""
    from grammars import get_grammar

    if name.lower().endswith(".json"):
        precheck_schema(Path(name))
    grammar = get_grammar(name)
    constraint = grammar.constraint(_context(n_interactions, n_candidates, domain, extra))
    if raw:
        click.echo(constraint.spec)
        return
    click.echo(f"grammar     {name}: {grammar.description}")
    click.echo(f"kind        {constraint.kind}")
    click.echo(f"engine      {constraint.engine}")
    click.echo(f"max_tokens  {constraint.max_tokens}")
    click.echo(f"key         {constraint.key}")
    spec = constraint.spec
    if constraint.kind in ("json_schema", "choice"):
        spec = json.dumps(json.loads(spec), indent=2, ensure_ascii=False)
    click.echo(spec)
    if constraint.fallback is not None:
        click.echo("fallback    the JSON Schema sent to a server that takes schemas only:")
        click.echo(json.dumps(json.loads(constraint.fallback), indent=2, ensure_ascii=False))


@command.command("check")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--engine", help="Check against this engine [the file's x-vtk engine, else llguidance]."
)
@click.option("--strict", is_flag=True, help="Fail on warnings (unbounded outputs) too.")
def check(file: Path, engine: str | None, strict: bool) -> None:
    """Every problem of a grammar FILE (.json schema, .lark, .regex); exit 1 if any."""
    from grammars.check import check_file

    if file.suffix.lower() == ".json":
        precheck_schema(file)
    report = check_file(file, engine)
    for issue in report.errors:
        click.secho(f"{file}: error: {issue}", fg="red")
    for issue in report.warnings:
        click.secho(f"{file}: warning: {issue}", fg="yellow")
    failed = bool(report.errors) or (strict and bool(report.warnings))
    verdict = "FAILED" if failed else "ok"
    click.echo(
        f"{file}: {verdict}: {report.kind} on {report.engine}, max_tokens {report.max_tokens}, "
        f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)"
    )
    if failed:
        raise SystemExit(1)
