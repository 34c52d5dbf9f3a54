"""``vtk eval``: score a task split, print a table with intervals, write the rows as JSON.

Rows come from row producers (``baseline_rows`` here); the command only loads the tasks,
collects rows, compares them with the named baseline row and reports. A new kind of row
(a verbalizer + reasoner pair) is a new producer and an option that calls it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from toolkit.evaluation import RECALL_DISCOVERY, EvalResult, compare, evaluate, print_table
from toolkit.tasks import SPLITS, RerankExample, TaskSet

DEFAULT_BASELINES = ("random", "popularity", "cooccurrence")


def select_examples(tasks: TaskSet, split: str, limit: int | None) -> list[RerankExample]:
    """The first ``limit`` examples of ``split`` (file order, so runs compare)."""
    examples = tasks.split(split)
    return examples if limit is None else examples[:limit]


def baseline_rows(
    tasks: TaskSet,
    examples: Sequence[RerankExample],
    names: Sequence[str] = DEFAULT_BASELINES,
    *,
    seed: int = 0,
    n_boot: int = 1000,
) -> list[EvalResult]:
    """One row per non-LLM baseline, fitted on the train split."""
    from toolkit.baselines import BASELINES

    train = tasks.examples.get("train", [])
    rows = []
    for name in names:
        start = time.perf_counter()
        model = BASELINES.get(name)(seed=seed).fit(train, tasks.catalog)
        scores = model.score_batch(examples)
        extras = {"wall_s": round(time.perf_counter() - start, 3)}
        rows.append(evaluate(name, examples, scores, extras=extras, n_boot=n_boot, seed=seed))
    return rows


def report(
    rows: Sequence[EvalResult],
    *,
    tasks: TaskSet,
    split: str,
    baseline: str,
    metric: str,
    **header: Any,
) -> dict[str, Any]:
    """The JSON document of an evaluation: where, what and the rows."""
    return {
        "tasks": None if tasks.path is None else str(tasks.path),
        "source": tasks.meta.get("source"),
        "split": split,
        "baseline": baseline,
        "metric": metric,
        **header,
        "rows": [row.to_json() for row in rows],
    }


@click.command("eval")
@click.option("--tasks", "tasks_dir", type=click.Path(path_type=Path), required=True)
@click.option("--baseline", default="popularity", show_default=True, help="Row to compare with.")
@click.option("--split", type=click.Choice(SPLITS), default="test", show_default=True)
@click.option("--limit", type=click.IntRange(min=1), help="Evaluate the first N examples only.")
@click.option("--seed", type=int, default=0, show_default=True, help="Tie-break + bootstrap.")
@click.option("--bootstrap", "n_boot", type=click.IntRange(min=0), default=1000, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), help="Write the rows as JSON here.")
def command(
    tasks_dir: Path,
    baseline: str,
    split: str,
    limit: int | None,
    seed: int,
    n_boot: int,
    out: Path | None,
) -> None:
    """Evaluate the non-LLM baselines on a task split, relative to --baseline."""
    from toolkit.io import write_json

    planned = list(DEFAULT_BASELINES)
    if baseline not in planned:
        raise click.BadParameter(
            f"{baseline!r} is not a row; rows: {', '.join(planned)}", param_hint="--baseline"
        )
    tasks = TaskSet.load(tasks_dir, splits=tuple(dict.fromkeys(("train", split))))
    examples = select_examples(tasks, split, limit)
    if not examples:
        raise click.UsageError(f"{tasks_dir}: split {split!r} has no examples")
    rows = baseline_rows(tasks, examples, planned, seed=seed, n_boot=n_boot)
    compare(rows, baseline, RECALL_DISCOVERY, n_boot=n_boot, seed=seed)
    title = f"{tasks.meta.get('source', tasks_dir)} {split}: {len(examples)} examples"
    print_table(rows, baseline=baseline, title=title)
    if out is not None:
        doc = report(
            rows,
            tasks=tasks,
            split=split,
            baseline=baseline,
            metric=RECALL_DISCOVERY,
            limit=limit,
            seed=seed,
        )
        write_json(out, doc)
        click.echo(f"wrote {out}")
