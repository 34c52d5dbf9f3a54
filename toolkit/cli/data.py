"""``vtk data``: read a source into rerank tasks, describe a task directory, list sources."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from toolkit.errors import ConfigError


def _task_config(config_path: Path | None, flags: dict[str, Any]):
    """The YAML config (if any) with the command-line flags on top; all errors at once."""
    from toolkit.config import load_config
    from toolkit.tasks import TaskConfig

    base = load_config(TaskConfig, config_path)
    given = {k: v for k, v in flags.items() if v is not None and v != ()}
    try:
        return TaskConfig.model_validate({**base.model_dump(), **given})
    except ValidationError as exc:
        lines = [
            f"--{'.'.join(map(str, e['loc'])).replace('_', '-') or 'options'}: {e['msg']}"
            for e in exc.errors()
        ]
        raise ConfigError("invalid task options:\n" + "\n".join(lines)) from None


def _source_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``-O key=value`` pairs as options; dotted keys nest (``-O columns.user=uid``)."""
    from toolkit.config import apply_overrides

    return apply_overrides({}, list(pairs))


def _check_out(out: Path, path: Path | None, overwrite: bool) -> None:
    """Refuse an ``--out`` that would replace the input or anything vtk did not write,
    before any data is read."""
    from toolkit.io import check_replaceable

    if path is not None:
        given, target = path.resolve(), out.resolve()
        if target == given or target in given.parents:
            raise click.UsageError(
                f"--out {out} is or contains the input --path {path}; pick another --out"
            )
    if out.exists() and not overwrite:
        raise click.UsageError(f"{out} exists; pass --overwrite or pick another --out")
    check_replaceable(out, marker="meta.json")


def _report_skipped(skipped: dict[str, int]) -> None:
    if not skipped:
        return
    total = sum(skipped.values())
    click.secho(f"skipped {total} row(s):", fg="yellow", err=True)
    for reason, count in sorted(skipped.items(), key=lambda kv: -kv[1]):
        click.echo(f"  {count:>7}  {reason}", err=True)


@click.group("data")
def command() -> None:
    """Prepare and inspect rerank task directories."""


@command.command("prepare")
@click.argument("source")
@click.option("--path", type=click.Path(path_type=Path), help="Data file or folder to read.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Task directory.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="TaskConfig YAML.")
@click.option("--seed", type=int, help="Seed of negatives and candidate order [0].")
@click.option("--negatives", type=click.Choice(["popularity", "uniform"]), help="[popularity]")
@click.option(
    "--split", type=click.Choice(["leave-last-out", "global-time"]), help="[leave-last-out]"
)
@click.option("--n-candidates", type=int, help="Target + negatives [10].")
@click.option("--max-history", type=int, help="Most recent interactions kept [100].")
@click.option("--min-history", type=int, help="Fewest interactions before a target [1].")
@click.option("--train-per-user", type=int, help="Train examples per user at most [5].")
@click.option("--val-fraction", type=float, help="Global time: share of time in val [0.1].")
@click.option("--test-fraction", type=float, help="Global time: share of time in test [0.1].")
@click.option("--target-event", "target_events", multiple=True, help="Events allowed as targets.")
@click.option(
    "-O", "--option", "options", multiple=True, metavar="KEY=VALUE", help="Source option."
)
@click.option(
    "--on-error", type=click.Choice(["raise", "skip"]), default="raise", show_default=True
)
@click.option("--overwrite", is_flag=True, help="Replace an existing task directory.")
def prepare(
    source: str,
    path: Path | None,
    out: Path,
    config_path: Path | None,
    options: tuple[str, ...],
    on_error: str,
    overwrite: bool,
    **flags: Any,
) -> None:
    """Read SOURCE at --path and write train/val/test rerank examples to --out."""
    from toolkit.sources import get_source
    from toolkit.tasks import prepare_tasks

    if flags.get("target_events") == ():
        flags["target_events"] = None
    else:
        flags["target_events"] = list(flags["target_events"])
    config = _task_config(config_path, flags)
    reader = get_source(source)()
    checked = reader.check_options(_source_options(options), where="-O")
    _check_out(out, path, overwrite)
    start = time.perf_counter()
    dataset = reader.read(path, on_error=on_error, **checked)
    meta = prepare_tasks(dataset, out, config, on_error=on_error, overwrite=overwrite)
    elapsed = time.perf_counter() - start
    _report_skipped(meta["skipped"])
    counts = ", ".join(
        f"{split} {n} ({meta['discovery'][split] / n:.0%} discovery)" if n else f"{split} 0"
        for split, n in meta["counts"].items()
    )
    click.echo(f"wrote {out}: {counts}; {meta['catalog_items']} catalog items [{elapsed:.1f} s]")


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:g}" if isinstance(value, float) else str(value)


@command.command("stats")
@click.argument("tasks_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
def stats(tasks_dir: Path, as_json: bool) -> None:
    """Counts, history lengths and the discovery share of a task directory."""
    from rich.console import Console
    from rich.table import Table

    from toolkit.tasks import TaskSet, task_stats

    info = task_stats(TaskSet.load(tasks_dir))
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    table = Table(
        title=f"{tasks_dir}: {info['source']} ({info['domain']}), "
        f"{info['catalog_items']} catalog items"
    )
    for name in ("split", "examples", "users", "history mean", "median", "min", "max"):
        table.add_column(name, justify="left" if name == "split" else "right")
    table.add_column("discovery", justify="right")
    table.add_column("distinct targets", justify="right")
    for split, s in info["splits"].items():
        h = s["history_length"]
        share = s["discovery_share"]
        table.add_row(
            split,
            str(s["examples"]),
            str(s["users"]),
            *(_fmt(h[k]) for k in ("mean", "median", "min", "max")),
            "–" if share is None else f"{share:.1%}",
            str(s["distinct_targets"]),
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    console.print(table)
    _report_skipped(info["skipped"])


@command.command("sources")
def sources() -> None:
    """List the data sources ``prepare`` can read."""
    from toolkit.sources import SOURCES, get_source, load_builtins

    load_builtins()
    for name in SOURCES.names():
        doc = (get_source(name).__doc__ or "").strip().splitlines()
        click.echo(f"{name:<20} {doc[0] if doc else ''}")
