"""``vtk eval``: score a task split, print a table with intervals, write the rows as JSON.

Rows come from row producers (``baseline_rows`` for the non-LLM baselines, ``llm_rows`` for
verbalizer + reasoner pairs); the command only loads the tasks, collects rows, compares them
with the named baseline row and reports. ``--diagnose-oracle`` instead asks whether an
oracle can tell good verbalizations from degraded ones (``toolkit.diagnostics``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from toolkit.evaluation import (
    RECALL_DISCOVERY,
    EvalResult,
    compare,
    evaluate,
    print_table,
    score_examples,
    summarize,
)
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


def _mean(values: Sequence[float | None]) -> float | None:
    clean = [float(v) for v in values if v is not None]
    return sum(clean) / len(clean) if clean else None


def verbalization_rows(
    tasks: TaskSet,
    examples: Sequence[RerankExample],
    name: str,
    *,
    model: str | None = None,
    cached: Sequence[dict[str, Any]] = (),
    max_history: int = 20,
    batch_size: int = 8,
    seed: int = 0,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Rows of verbalizer ``name`` for ``examples``: from ``cached`` rows (a ``vtk
    verbalize`` file) where present, the missing ones verbalized now."""
    from toolkit.verbalize import build_verbalizer, verbalize_examples

    have = {str(r["example_id"]): r for r in cached if r.get("verbalizer") == name}
    missing = [ex for ex in examples if ex.example_id not in have]
    if missing:
        verbalizer = build_verbalizer(
            name, model=model, domain=tasks.domain, batch_size=batch_size, seed=seed
        )
        for row in verbalize_examples(
            missing,
            tasks.catalog,
            verbalizer,
            batch_size=batch_size,
            max_history=max_history,
            progress=progress,
        ):
            have[row["example_id"]] = row
    return [have[ex.example_id] for ex in examples]


def llm_rows(
    tasks: TaskSet,
    examples: Sequence[RerankExample],
    verbalizers: Sequence[str],
    reasoners: Sequence[str],
    *,
    model: str | None = None,
    reasoner_model: str | None = None,
    verbalizations: Sequence[dict[str, Any]] = (),
    max_history: int = 20,
    batch_size: int = 8,
    seed: int = 0,
    n_boot: int = 1000,
    progress: bool = False,
) -> list[EvalResult]:
    """One row per (verbalizer, reasoner) pair, named ``<verbalizer>+<reasoner>``.

    Recall@1 comes from the reasoner's scores (ties at their expected value), the valid rate
    counts answers that are valid with a valid verbalization, and ``extras`` carry mean
    compression and tokens, wall time (verbalizing + answering) and the reasoner's position
    statistics (``positions``: the ``PositionStats`` summary of this row's picks)."""
    from toolkit.reasoners import answer_contexts, build_reasoner
    from toolkit.reasoners.positions import PositionStats

    settings = {"model": reasoner_model, "seed": seed, "batch_size": batch_size}
    built = {
        r: build_reasoner(r, tasks.catalog, domain=tasks.domain, **settings) for r in reasoners
    }
    rows = []
    for vname in verbalizers:
        start = time.perf_counter()
        vrows = verbalization_rows(
            tasks,
            examples,
            vname,
            model=model,
            cached=verbalizations,
            max_history=max_history,
            batch_size=batch_size,
            seed=seed,
            progress=progress,
        )
        verbalize_s = time.perf_counter() - start
        for rname, reasoner in built.items():
            reasoner.positions = PositionStats()
            start = time.perf_counter()
            answers = answer_contexts(
                reasoner,
                examples,
                [r["text"] for r in vrows],
                batch_size=batch_size,
                progress=progress,
                desc=f"{vname}+{rname}",
            )
            wall = verbalize_s + time.perf_counter() - start
            outcomes = [
                dataclasses.replace(o, valid=o.valid and a.valid and bool(v["valid"]))
                for o, a, v in zip(
                    score_examples(examples, [a.scores for a in answers]),
                    answers,
                    vrows,
                    strict=True,
                )
            ]
            positions = reasoner.positions.summary()
            extras = {
                "compression": _mean([r["compression"] for r in vrows]),
                "tokens": _mean([r["tokens"] for r in vrows]),
                "wall_s": round(wall, 2),
                "pos_max_share": positions["max_share"],
                "position_bias": "FLAGGED" if positions["flagged"] else "ok",
                "positions": positions,
            }
            rows.append(
                summarize(f"{vname}+{rname}", outcomes, extras=extras, n_boot=n_boot, seed=seed)
            )
    return rows


def _for_table(row: EvalResult) -> EvalResult:
    """The row without the bulky extras (the full position summary stays in the JSON)."""
    return dataclasses.replace(
        row,
        metrics=dict(row.metrics),
        extras={k: v for k, v in row.extras.items() if k != "positions"},
    )


def _warn_position_bias(rows: Sequence[EvalResult]) -> None:
    for row in rows:
        positions = row.extras.get("positions")
        if positions and positions.get("flagged"):
            click.secho(
                f"warning: {row.name}: position-biased reasoner ("
                + "; ".join(positions["reasons"])
                + ")",
                fg="yellow",
            )


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


def _names(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _diagnose(
    tasks_dir: Path, oracles: list[str], split: str, limit: int | None, options: dict[str, Any]
) -> dict[str, Any]:
    from toolkit.diagnostics import diagnose_oracles, print_diagnostics

    tasks = TaskSet.load(tasks_dir, splits=(split,))
    examples = select_examples(tasks, split, limit)
    if not examples:
        raise click.UsageError(f"{tasks_dir}: split {split!r} has no examples")
    result = diagnose_oracles(tasks, examples, oracles, progress=True, **options)
    title = f"oracle diagnostics: {tasks.meta.get('source', tasks_dir)} {split}"
    print_diagnostics(result, title=f"{title}, {len(examples)} examples")
    return {
        "tasks": str(tasks_dir),
        "source": tasks.meta.get("source"),
        "split": split,
        "limit": limit,
        **result,
    }


@click.command("eval")
@click.option("--tasks", "tasks_dir", type=click.Path(path_type=Path), required=True)
@click.option("--verbalizer", "verbalizer_names", help="Verbalizer(s), comma-separated.")
@click.option(
    "--reasoner",
    "reasoner_names",
    default="llm",
    show_default=True,
    help="Reasoner(s) for --verbalizer rows, comma-separated: llm, embedding.",
)
@click.option("--model", help="Verbalizer LLM (folder, adapter folder or 'embedded').")
@click.option("--reasoner-model", help="Reasoner LLM (folder, adapter folder or 'embedded').")
@click.option(
    "--verbalizations",
    type=click.Path(path_type=Path),
    help="A `vtk verbalize` file to take verbalizations from (missing ones are made).",
)
@click.option(
    "--baseline",
    help="Row to compare with [default: popularity, or "
    "template+<reasoner> per reasoner with --verbalizer].",
)
@click.option("--with-baselines", is_flag=True, help="Add the non-LLM baseline rows.")
@click.option(
    "--diagnose-oracle",
    "oracles",
    help="Diagnose these oracle(s) instead: llm, embedding (comma-separated); default split val.",
)
@click.option("--split", type=click.Choice(SPLITS), help="[default: test; val for diagnostics]")
@click.option("--limit", type=click.IntRange(min=1), help="Evaluate the first N examples only.")
@click.option("--max-history", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Tie-break + bootstrap.")
@click.option("--bootstrap", "n_boot", type=click.IntRange(min=0), default=1000, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), help="Write the rows as JSON here.")
def command(
    tasks_dir: Path,
    verbalizer_names: str | None,
    reasoner_names: str,
    model: str | None,
    reasoner_model: str | None,
    verbalizations: Path | None,
    baseline: str | None,
    with_baselines: bool,
    oracles: str | None,
    split: str | None,
    limit: int | None,
    max_history: int,
    batch_size: int,
    seed: int,
    n_boot: int,
    out: Path | None,
) -> None:
    """Evaluate baselines or verbalizer + reasoner pairs on a task split, with intervals and
    the relative change against a baseline row; or diagnose an oracle (--diagnose-oracle)."""
    from toolkit.io import write_json

    if oracles:
        options = dict(
            reasoner_model=reasoner_model,
            max_history=max_history,
            batch_size=batch_size,
            seed=seed,
            n_boot=n_boot,
        )
        doc = _diagnose(tasks_dir, _names(oracles), split or "val", limit, options)
        if out is not None:
            write_json(out, doc)
            click.echo(f"wrote {out}")
        return
    split = split or "test"
    verbalizers = _names(verbalizer_names)
    reasoners = _names(reasoner_names)
    if verbalizers and baseline is None and "template" not in verbalizers:
        verbalizers.insert(0, "template")
    tasks = TaskSet.load(tasks_dir, splits=tuple(dict.fromkeys(("train", split))))
    examples = select_examples(tasks, split, limit)
    if not examples:
        raise click.UsageError(f"{tasks_dir}: split {split!r} has no examples")
    base_rows: list[EvalResult] = []
    if with_baselines or not verbalizers:
        base_rows = baseline_rows(tasks, examples, DEFAULT_BASELINES, seed=seed, n_boot=n_boot)
    rows: list[EvalResult] = []
    if verbalizers:
        cached: list[dict[str, Any]] = []
        if verbalizations is not None:
            from toolkit.verbalize import read_rows

            cached = read_rows(verbalizations)
        rows = llm_rows(
            tasks,
            examples,
            verbalizers,
            reasoners,
            model=model,
            reasoner_model=reasoner_model,
            verbalizations=cached,
            max_history=max_history,
            batch_size=batch_size,
            seed=seed,
            n_boot=n_boot,
            progress=True,
        )
    title = f"{tasks.meta.get('source', tasks_dir)} {split}: {len(examples)} examples"
    if baseline is not None or not verbalizers:
        baseline = baseline or "popularity"
        groups = {baseline: base_rows + rows}
    else:
        groups = {}
        for r in reasoners:
            mine = [x for x in rows if x.name.endswith(f"+{r}")]
            groups[f"template+{r}"] = [*map(_for_table, base_rows), *mine]
    for name, group in groups.items():
        known = [r.name for r in group]
        if name not in known:
            raise click.BadParameter(
                f"{name!r} is not a row; rows: {', '.join(known)}", param_hint="--baseline"
            )
        compare(group, name, RECALL_DISCOVERY, n_boot=n_boot, seed=seed)
        print_table([_for_table(r) for r in group], baseline=name, title=title)
    _warn_position_bias(rows)
    if out is not None:
        doc = report(
            base_rows + rows,
            tasks=tasks,
            split=split,
            baseline=", ".join(groups),
            metric=RECALL_DISCOVERY,
            limit=limit,
            seed=seed,
            max_history=max_history,
        )
        write_json(out, doc)
        click.echo(f"wrote {out}")
