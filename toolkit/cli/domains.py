"""``vtk domains``: list the domains, show one, check a domain folder."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("domains")
def command() -> None:
    """Domains: event wording, action codes, fields, critical rules, grammars, prompts."""


@command.command("list")
def list_() -> None:
    """The built-in domains, those on $VTK_DOMAINS_PATH and those of entry points."""
    from actions.domains import domain_names, get_domain

    click.echo(f"{'name':<14} {'codes':>5}  {'rewrite grammar':<26} origin")
    for name in domain_names():
        domain = get_domain(name)
        click.echo(
            f"{name:<14} {len(domain.codes):>5}  {domain.grammar('rewrite'):<26} {domain.origin}"
        )


@command.command("show")
@click.argument("name")
def show(name: str) -> None:
    """Everything domain NAME (a name or a domain folder) defines."""
    from actions.domains import get_domain
    from prompts import list_prompts, load_prompt

    d = get_domain(name)
    click.echo(f"domain      {d.name}: {d.description or '(no description)'}")
    click.echo(f"origin      {d.origin}")
    click.echo(f"codes       (default {d.default_code})")
    for line in d.describe().splitlines():
        click.echo(f"  {line}")
    click.echo(f"terms       {', '.join(t.__name__ for t in d.terms)}")
    click.echo(f"enrich      {', '.join(d.enrich_fields) or '(none)'}")
    click.echo(f"aggregate   {', '.join(d.aggregate_keys) or '(none)'}")
    click.echo(f"aspects     {', '.join(d.aspect_fields) or '(none)'}")
    for derived in d.derived:
        click.echo(f"derived     {derived.name} <- {derived.source} ~ /{derived.pattern}/")
    for rule in d.critical:
        click.echo(f"critical    {rule.describe()}")
    for rule in d.noise:
        click.echo(f"noise       {rule.describe()}")
    if d.events:
        click.echo("events      " + ", ".join(f"{k} -> {v}" for k, v in d.events.items()))
    for role in ("plan", "rewrite"):
        click.echo(f"grammar     {role}: {d.grammar(role)}")
    names = sorted(set(list_prompts(d.name)) | _own_prompts(d.prompts))
    for prompt in names:
        click.echo(f"prompt      {prompt}: {load_prompt(prompt, d.name).source}")


def _own_prompts(folder: str | None) -> set[str]:
    return {p.stem for p in Path(folder).glob("*.j2")} if folder else set()


@command.command("check")
@click.argument("folder", type=click.Path(path_type=Path))
def check(folder: Path) -> None:
    """Every problem of a domain FOLDER (domain.yaml, grammars/, prompts/); exit 1 if any."""
    from actions.domains.check import check_folder

    report = check_folder(folder)
    for line in report.errors:
        click.secho(f"error: {line}", fg="red")
    for line in report.warnings:
        click.secho(f"warning: {line}", fg="yellow")
    verdict = "FAILED" if report.errors else "ok"
    click.echo(
        f"{folder}: {verdict}: domain {report.name or '?'}, {len(report.checked)} file(s) "
        f"checked, {len(report.errors)} error(s), {len(report.warnings)} warning(s)"
    )
    if report.errors:
        raise SystemExit(1)


@command.command("reference")
@click.option("--out", type=click.Path(path_type=Path), help="Write here instead of stdout.")
def reference(out: Path | None) -> None:
    """The Markdown reference of the built-in terms, domains and grammars."""
    from actions.domains.reference import render_reference

    text = render_reference()
    if out is None:
        click.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    click.echo(f"wrote {out}")
