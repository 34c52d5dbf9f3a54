"""``vtk eval``: score a task split, print a table with intervals, write the rows as JSON.

Rows come from row producers (``baseline_rows`` for the non-LLM baselines, ``llm_rows`` for
verbalizer + reader pairs), both on the same episodes (``toolkit.episodes``) through the one
pipeline (``toolkit.pipeline``); the command only loads the tasks, builds the episodes,
collects rows, compares them with the named baseline row (paired) and reports.
``--diagnose-oracle`` instead asks whether an oracle can tell good verbalizations from
degraded ones (``toolkit.diagnostics``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from toolkit.episodes import DEFAULT_WINDOW, Episode, build_episodes
from toolkit.evaluation import RECALL_DISCOVERY, EvalResult, compare, print_table
from toolkit.tasks import SPLITS, RerankExample, TaskSet

DEFAULT_BASELINES = ("random", "popularity", "cooccurrence")
DEFAULT_SHIFTS = 10
"""Cyclic shifts of an LLM reader's candidates at evaluation: every candidate in every slot
once, which took the untrained SmolLM2's first-slot share from 100% to 6.2% (4 of 64 picks,
ML-100K; benchmarks/RESULTS.md, "Position-fair LLM reader")."""


def select_examples(tasks: TaskSet, split: str, limit: int | None) -> list[RerankExample]:
    """The first ``limit`` examples of ``split`` (file order, so runs compare)."""
    examples = tasks.split(split)
    return examples if limit is None else examples[:limit]


def baseline_rows(
    tasks: TaskSet,
    episodes: Sequence[Episode],
    names: Sequence[str] = DEFAULT_BASELINES,
    *,
    seed: int = 0,
    n_boot: int = 1000,
) -> list[EvalResult]:
    """One row per non-LLM baseline, fitted on the train split, scored on the windows."""
    from toolkit.baselines import BASELINES
    from toolkit.pipeline import scorer_row

    train = tasks.examples.get("train", [])
    rows = []
    for name in names:
        start = time.perf_counter()
        model = BASELINES.get(name)(seed=seed).fit(train, tasks.catalog)
        row = scorer_row(name, episodes, model, n_boot=n_boot, seed=seed)
        row.extras["wall_s"] = round(time.perf_counter() - start, 3)
        rows.append(row)
    return rows


def verbalization_rows(
    tasks: TaskSet, episodes: Sequence[Episode], name: str, **settings: Any
) -> list[dict[str, Any]]:
    """Rows of verbalizer ``name`` for the episodes (``toolkit.pipeline.verbalize_named``)."""
    from toolkit.pipeline import verbalize_named

    return verbalize_named(episodes, tasks, name, **settings)


def llm_rows(
    tasks: TaskSet,
    episodes: Sequence[Episode],
    verbalizers: Sequence[str],
    reasoners: Sequence[str],
    *,
    model: str | None = None,
    reasoner_model: str | None = None,
    verbalizations: Sequence[dict[str, Any]] = (),
    store: Any = None,
    shifts: int = DEFAULT_SHIFTS,
    calibrate: str = "none",
    batch_size: int = 8,
    seed: int = 0,
    n_boot: int = 1000,
    max_new_tokens: int | None = None,
    progress: bool = False,
) -> list[EvalResult]:
    """One row per (verbalizer, reasoner) pair, named ``<verbalizer>+<reasoner>``, through
    the one pipeline (``toolkit.pipeline``: its window, tie and invalid-output policies).
    ``extras`` carry the window, mean compression and tokens, wall time (verbalizing +
    answering), the first-position share and the reader's position statistics; an LLM
    reader also reports its single-order Recall@1 beside the position-fair one."""
    from toolkit.pipeline import evaluate_row
    from toolkit.reasoners import build_reasoner, reader_options

    settings = {"model": reasoner_model, "seed": seed, "batch_size": batch_size}
    built = {
        r: build_reasoner(
            r,
            tasks.catalog,
            domain=tasks.domain,
            options=reader_options(r, shifts, calibrate),
            **settings,
        )
        for r in reasoners
    }
    rows = []
    for vname in verbalizers:
        start = time.perf_counter()
        vrows = verbalization_rows(
            tasks,
            episodes,
            vname,
            model=model,
            cached=verbalizations,
            store=store,
            batch_size=batch_size,
            seed=seed,
            max_new_tokens=max_new_tokens,
            progress=progress,
        )
        verbalize_s = time.perf_counter() - start
        for rname, reasoner in built.items():
            start = time.perf_counter()
            row = evaluate_row(
                f"{vname}+{rname}",
                episodes,
                vrows,
                reasoner,
                batch_size=batch_size,
                n_boot=n_boot,
                seed=seed,
                progress=progress,
                store=store,
            )
            positions = row.extras["positions"] or {}
            row.extras.update(
                wall_s=round(verbalize_s + time.perf_counter() - start, 2),
                pos_max_share=positions.get("max_share"),
                position_bias="FLAGGED" if positions.get("flagged") else "ok",
            )
            rows.append(row)
    return rows


TABLE_EXTRAS = {
    "compression": "compr.",
    "wall_s": "wall s",
    "first_position_share": "slot A",
    "single_order_recall@1": "R@1 1-order",
    "position_bias": "pos. bias",
}
"""The extras shown in the console table (every extra stays in the JSON)."""


def _copy(row: EvalResult) -> EvalResult:
    """A copy whose metrics and comparisons a group's ``compare`` may fill."""
    return dataclasses.replace(row, metrics=dict(row.metrics), comparisons=dict(row.comparisons))


def _for_table(row: EvalResult) -> EvalResult:
    """The row with only the short extras, renamed for narrow columns."""
    return dataclasses.replace(
        row,
        metrics=dict(row.metrics),
        extras={label: row.extras[k] for k, label in TABLE_EXTRAS.items() if k in row.extras},
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
    default="bm25",
    show_default=True,
    help="Reader(s) for --verbalizer rows, comma-separated: bm25, embedding, llm. The "
    "default is a held-out reader (no verbalizer is trained against BM25).",
)
@click.option("--model", help="Verbalizer LLM (folder, adapter folder or 'embedded').")
@click.option("--reasoner-model", help="Reasoner LLM (folder, adapter folder or 'embedded').")
@click.option(
    "--verbalizations",
    type=click.Path(path_type=Path),
    help="A `vtk verbalize` file to take verbalizations from: only rows whose content key "
    "matches (same example, window, verbalizer, weights, prompt, decoding) are reused.",
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(path_type=Path),
    help="A content-keyed cache folder (verbalizations, LLM-reader answers; read and filled).",
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
    help="Diagnose these oracle(s) instead: llm, embedding, bm25 (comma-separated); "
    "default split val.",
)
@click.option("--split", type=click.Choice(SPLITS), help="[default: test; val for diagnostics]")
@click.option("--limit", type=click.IntRange(min=1), help="Evaluate the first N examples only.")
@click.option(
    "--max-history",
    type=click.IntRange(min=1),
    default=DEFAULT_WINDOW,
    show_default=True,
    help="The history view: interactions a verbalizer is shown (discovery is computed on it).",
)
@click.option(
    "--shifts",
    type=click.IntRange(min=1),
    default=DEFAULT_SHIFTS,
    show_default=True,
    help="Cyclic shifts of the candidates an LLM reader averages over (1: one order).",
)
@click.option(
    "--calibrate",
    type=click.Choice(["none", "batch"]),
    default="none",
    show_default=True,
    help="batch: divide an LLM reader's slot probabilities by their mean over the row.",
)
@click.option(
    "--max-new-tokens",
    type=click.IntRange(min=1),
    help="Budget of free-text (zero-shot) verbalizations [default: the generator's].",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Candidate order + bootstrap.")
@click.option("--bootstrap", "n_boot", type=click.IntRange(min=0), default=1000, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), help="Write the rows as JSON here.")
def command(
    tasks_dir: Path,
    verbalizer_names: str | None,
    reasoner_names: str,
    model: str | None,
    reasoner_model: str | None,
    verbalizations: Path | None,
    cache_dir: Path | None,
    baseline: str | None,
    with_baselines: bool,
    oracles: str | None,
    split: str | None,
    limit: int | None,
    max_history: int,
    shifts: int,
    calibrate: str,
    max_new_tokens: int | None,
    batch_size: int,
    seed: int,
    n_boot: int,
    out: Path | None,
) -> None:
    """Evaluate baselines or verbalizer + reader pairs on a task split through one pipeline
    (same window and candidate order for every row), with paired intervals, paired
    p-values and verdicts against a baseline row; or diagnose an oracle (--diagnose-oracle)."""
    from toolkit.io import write_json
    from toolkit.pipeline import POLICIES

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
    episodes = build_episodes(examples, window=max_history, seed=seed)
    base_rows: list[EvalResult] = []
    if with_baselines or not verbalizers:
        base_rows = baseline_rows(tasks, episodes, DEFAULT_BASELINES, seed=seed, n_boot=n_boot)
    rows: list[EvalResult] = []
    if verbalizers:
        cached: list[dict[str, Any]] = []
        if verbalizations is not None:
            from toolkit.verbalize import read_rows

            cached = read_rows(verbalizations)
        store = None
        if cache_dir is not None:
            from toolkit.cache import ContentStore

            store = ContentStore(cache_dir)
        rows = llm_rows(
            tasks,
            episodes,
            verbalizers,
            reasoners,
            model=model,
            reasoner_model=reasoner_model,
            verbalizations=cached,
            store=store,
            shifts=shifts,
            calibrate=calibrate,
            batch_size=batch_size,
            seed=seed,
            n_boot=n_boot,
            max_new_tokens=max_new_tokens,
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
            groups[f"template+{r}"] = [*map(_copy, base_rows), *mine]
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
            shifts=shifts,
            calibrate=calibrate,
            policies=POLICIES,
        )
        write_json(out, doc)
        click.echo(f"wrote {out}")
