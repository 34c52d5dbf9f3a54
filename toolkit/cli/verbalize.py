"""``vtk verbalize``: write one verbalization row per task example to a resumable JSONL file."""

from __future__ import annotations

from pathlib import Path

import click

from toolkit.tasks import SPLITS

VERBALIZER_NAMES = (
    "template",
    "zero_shot",
    "actions",
    "numbered_actions",
    "rewrite",
    "heuristic_actions",
    "heuristic_rewrite",
)


@click.command("verbalize")
@click.option("--tasks", "tasks_dir", type=click.Path(path_type=Path), required=True)
@click.option(
    "--verbalizer",
    "name",
    required=True,
    help=f"One of {', '.join(VERBALIZER_NAMES)} (or a registered / dotted-path verbalizer).",
)
@click.option("--model", default=None, help="LLM folder, adapter folder or 'embedded'.")
@click.option("--split", type=click.Choice(SPLITS), default="test", show_default=True)
@click.option("--limit", type=click.IntRange(min=1), help="Verbalize the first N examples only.")
@click.option("--max-history", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--no-resume", is_flag=True, help="Start FILE afresh instead of skipping done ids.")
@click.option(
    "--cache",
    type=click.Path(path_type=Path),
    default=None,
    help="Content-keyed store of LLM verbalizations (default: the vtk cache folder's "
    "verbalizations/); an unchanged history, model, prompt and grammar is not generated again.",
)
@click.option("--no-cache", is_flag=True, help="Generate everything; read and write no store.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="JSONL file.")
def command(
    tasks_dir: Path,
    name: str,
    model: str | None,
    split: str,
    limit: int | None,
    max_history: int,
    batch_size: int,
    seed: int,
    no_resume: bool,
    cache: Path | None,
    no_cache: bool,
    out: Path,
) -> None:
    """Verbalize a task split with one verbalizer; rows already in --out are kept."""
    from toolkit.cli.evaluate import select_examples
    from toolkit.models import cache_dir
    from toolkit.tasks import TaskSet
    from toolkit.verbalization_cache import CachedVerbalizer, maybe_cached
    from toolkit.verbalize import build_verbalizer, verbalize_examples

    tasks = TaskSet.load(tasks_dir, splits=(split,))
    examples = select_examples(tasks, split, limit)
    if not examples:
        raise click.UsageError(f"{tasks_dir}: split {split!r} has no examples")
    verbalizer = build_verbalizer(
        name, model=model, domain=tasks.domain, batch_size=batch_size, seed=seed
    )
    if not no_cache:
        verbalizer = maybe_cached(verbalizer, cache or cache_dir() / "verbalizations")
    rows = verbalize_examples(
        examples,
        tasks.catalog,
        verbalizer,
        batch_size=batch_size,
        max_history=max_history,
        out_path=out,
        resume=not no_resume,
    )
    valid = sum(bool(r["valid"]) for r in rows)
    ratios = [r["compression"] for r in rows if r["compression"] is not None]
    mean = sum(ratios) / len(ratios) if ratios else float("nan")
    click.echo(
        f"{len(rows)} rows of {verbalizer.name} in {out}: {valid} valid, "
        f"mean compression {mean:.3f}"
    )
    if isinstance(verbalizer, CachedVerbalizer):
        click.echo(
            f"cache {verbalizer.store.path}: {verbalizer.hits} reused, "
            f"{verbalizer.misses} generated"
        )
