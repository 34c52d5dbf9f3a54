"""``vtk validate``: check LLM outputs in a JSONL file against a grammar (``--grammar``) or
the user's own JSON Schema file (``--schema``), every error listed.

Each line is either a row ``{"output": "<raw model text>", "context": {...}, ...}`` (what
``vtk verbalize`` writes; ``context`` holds ``GrammarContext`` fields such as
``n_interactions``) or a bare output, the line itself. Exit 0 when all are valid, 1 when
any is not, 2 when the file or a row's context cannot be read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

TOO_DEEP = object()
"""The context of an output nested too deeply to parse: invalid under every grammar."""


def read_outputs(path: Path) -> Iterator[tuple[int, str, Any]]:
    """``(line, output text, GrammarContext | None)`` per non-empty line; InputError names
    the file, line and field of anything unreadable, and refuses a file with no output.
    A line nested too deeply to parse comes with the context ``TOO_DEEP``."""
    from grammars.base import context_from_dict
    from toolkit.errors import InputError
    from toolkit.io import parse_json, too_deep

    if not path.is_file():
        raise InputError.at("file not found", path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError.at(f"not UTF-8 text ({exc.reason})", path) from None
    if not any(line.strip() for line in lines):
        raise InputError.at("no outputs to validate: the file is empty", path)
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if too_deep(line):
            yield lineno, line.strip(), TOO_DEEP
            continue
        try:
            row = parse_json(line, path, lineno)
        except InputError:
            row = None
        if not (isinstance(row, dict) and isinstance(row.get("output"), str)):
            yield lineno, line.strip(), None
            continue
        if too_deep(row["output"]):
            yield lineno, row["output"], TOO_DEEP
            continue
        ctx = None
        if row.get("context") is not None:
            try:
                ctx = context_from_dict(row["context"])
            except ValueError as exc:
                field, message = exc.args
                raise InputError.at(message, path, lineno, field) from None
        yield lineno, row["output"], ctx


@click.command("validate")
@click.option("--grammar", "grammar_name", help="Grammar name, dotted path or file.")
@click.option(
    "--schema",
    "schema_file",
    type=click.Path(path_type=Path),
    help="Your own JSON Schema file instead of a grammar (the same for every line).",
)
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--quiet", is_flag=True, help="Print only the summary.")
def command(grammar_name: str | None, schema_file: Path | None, file: Path, quiet: bool) -> None:
    """Validate the outputs in FILE (JSONL) against a grammar or a JSON Schema; exit 1 if
    any is invalid."""
    from grammars import get_grammar
    from toolkit.cli.grammars import precheck_schema

    if (grammar_name is None) == (schema_file is None):
        raise click.UsageError("give exactly one of --grammar NAME and --schema FILE")
    if schema_file is not None:
        from grammars.user import FileGrammar

        precheck_schema(schema_file)
        grammar = FileGrammar(schema_file)
        grammar_name = f"schema {schema_file}"
    else:
        if grammar_name.lower().endswith(".json"):
            precheck_schema(Path(grammar_name))
        grammar = get_grammar(grammar_name)
    total = valid = 0
    for lineno, text, ctx in read_outputs(file):
        total += 1
        if ctx is TOO_DEEP:
            issues = ["$: JSON nested too deeply to parse"]
        else:
            issues = grammar.validate(text, ctx)
        if not issues:
            valid += 1
        elif not quiet:
            for issue in issues:
                click.echo(f"{file}:{lineno}: {issue}")
    invalid = total - valid
    colour = "red" if invalid else "green"
    click.secho(
        f"{valid} valid / {total} total ({invalid} invalid) under grammar {grammar_name}",
        fg=colour,
    )
    if invalid:
        raise SystemExit(1)
