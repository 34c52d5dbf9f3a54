"""Can this oracle train a verbalizer? Compare its Recall@1 on good and degraded contexts.

Stage 1 rewards a verbalization by the oracle's hit. That signal is only useful when the
oracle's accuracy moves with the context: it must do better on the template (or a sensible
heuristic verbalization) than on a degraded one (the history shuffled, or cut to its three
oldest interactions). Each good-vs-degraded difference gets a paired bootstrap interval; an
oracle for which every such interval overlaps zero is reported as "unable to train a
verbalizer".
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from toolkit.evaluation import RECALL, Metric, summarize
from toolkit.records import Catalog, History
from toolkit.tasks import RerankExample, TaskSet

GOOD = ("template", "heuristic_rewrite", "heuristic_actions")
DEGRADED = ("shuffled", "truncated")
OLDEST = 3


def shuffled(history: History, seed: int = 0) -> History:
    """The same interactions in a seeded random order (fixed per user and seed)."""
    xs = list(history.interactions)
    random.Random(f"{seed}\0{history.user_id}\0{len(xs)}").shuffle(xs)
    return History.model_construct(user_id=history.user_id, interactions=tuple(xs))


def oldest(history: History, n: int = OLDEST) -> History:
    """The ``n`` oldest interactions only."""
    return History.model_construct(user_id=history.user_id, interactions=history.interactions[:n])


DEGRADATIONS: dict[str, Callable[[History, int], History]] = {
    "shuffled": shuffled,
    "truncated": lambda h, seed: oldest(h),
}
"""Degraded condition -> how it changes the (already ``max_history``-cut) history."""


def condition_texts(
    examples: Sequence[RerankExample],
    catalog: Catalog,
    condition: str,
    *,
    domain: str = "streaming",
    max_history: int = 20,
    seed: int = 0,
) -> list[str]:
    """The context text of every example under one condition: a verbalizer's name in
    ``GOOD``, or a degradation of the template in ``DEGRADED``."""
    from toolkit.verbalizers import get_verbalizer
    from toolkit.verbalizers.template import render_template

    histories = [ex.history.last(max_history) for ex in examples]
    if condition in DEGRADATIONS:
        degrade = DEGRADATIONS[condition]
        return [render_template(degrade(h, seed), catalog) for h in histories]
    cls = get_verbalizer(condition)
    verbalizer = cls(None, domain=domain) if condition != "template" else cls(None)
    return [v.text for v in verbalizer.verbalize_batch(histories, catalog)]


def paired_difference(
    a: Sequence[float], b: Sequence[float], n: int = 1000, seed: int = 0, level: float = 0.95
) -> Metric:
    """``mean(a) - mean(b)`` over paired values with a paired bootstrap interval
    (``toolkit.stats.paired_comparison``).

    >>> paired_difference([1, 1, 0, 1], [1, 0, 0, 1], n=0).value
    0.25
    """
    from toolkit.stats import paired_comparison

    if not len(a) and not len(b):
        return Metric(None)
    return paired_comparison(a, b, n_boot=n, seed=seed, level=level).diff


def excludes_zero(metric: Metric) -> bool:
    return metric.lo is not None and metric.hi is not None and (metric.lo > 0 or metric.hi < 0)


def diagnose_oracle(
    reasoner: Any,
    examples: Sequence[RerankExample],
    catalog: Catalog,
    *,
    domain: str = "streaming",
    max_history: int = 20,
    batch_size: int = 8,
    seed: int = 0,
    n_boot: int = 1000,
    progress: bool = False,
) -> dict[str, Any]:
    """Recall@1 of one oracle under every condition, the good-vs-degraded differences and
    the verdict ``able`` (False: "unable to train a verbalizer")."""
    from toolkit.episodes import build_episodes
    from toolkit.pipeline import ask, score

    episodes = build_episodes(examples, window=max_history, seed=seed)
    shown = [ep.example for ep in episodes]
    hits: dict[str, list[float]] = {}
    conditions: dict[str, Any] = {}
    for condition in (*GOOD, *DEGRADED):
        texts = condition_texts(
            shown, catalog, condition, domain=domain, max_history=max_history, seed=seed
        )
        answers = ask(
            reasoner, episodes, texts, batch_size=batch_size, progress=progress, desc=condition
        )
        row = summarize(condition, score(episodes, answers), n_boot=n_boot, seed=seed)
        hits[condition] = [o.hit for o in row.outcomes]
        conditions[condition] = {
            "recall@1": row.metrics[RECALL].to_json(),
            "mean_chars": sum(map(len, texts)) / len(texts) if texts else None,
        }
    differences = {
        f"{good}-{bad}": paired_difference(hits[good], hits[bad], n_boot, seed)
        for good in GOOD
        for bad in DEGRADED
    }
    template_separates = any(excludes_zero(differences[f"template-{b}"]) for b in DEGRADED)
    heuristic_separates = any(
        excludes_zero(d) for k, d in differences.items() if not k.startswith("template-")
    )
    able = template_separates or heuristic_separates
    return {
        "n": len(examples),
        "conditions": conditions,
        "differences": {k: d.to_json() for k, d in differences.items()},
        "template_separates": template_separates,
        "heuristic_separates": heuristic_separates,
        "able": able,
        "verdict": "usable oracle" if able else "unable to train a verbalizer",
    }


def diagnose_oracles(
    tasks: TaskSet,
    examples: Sequence[RerankExample],
    oracles: Sequence[str],
    *,
    reasoner_model: str | None = None,
    max_history: int = 20,
    batch_size: int = 8,
    seed: int = 0,
    n_boot: int = 1000,
    progress: bool = False,
) -> dict[str, Any]:
    """``{"oracles": {name: diagnose_oracle(...)}}`` for every named reasoner."""
    from toolkit.reasoners import build_reasoner

    out = {}
    for name in oracles:
        reasoner = build_reasoner(
            name, tasks.catalog, model=reasoner_model, seed=seed, batch_size=batch_size
        )
        out[name] = diagnose_oracle(
            reasoner,
            examples,
            tasks.catalog,
            domain=tasks.domain,
            max_history=max_history,
            batch_size=batch_size,
            seed=seed,
            n_boot=n_boot,
            progress=progress,
        )
    return {"max_history": max_history, "oracles": out}


def print_diagnostics(result: dict[str, Any], *, title: str | None = None) -> None:
    """One column per oracle; rows: Recall@1 per condition, each good-minus-degraded
    difference (paired 95% interval), and the verdict."""
    from rich.console import Console
    from rich.table import Table

    oracles = result["oracles"]
    table = Table(title=title)
    table.add_column("", style="bold")
    for name in oracles:
        table.add_column(name, justify="right")
    for condition in (*GOOD, *DEGRADED):
        cells = [_fmt(d["conditions"][condition]["recall@1"]) for d in oracles.values()]
        table.add_row(f"R@1 {condition}", *cells)
    for key in (f"{g}-{b}" for g in GOOD for b in DEGRADED):
        cells = [_fmt(d["differences"][key], signed=True) for d in oracles.values()]
        table.add_row(f"Δ {key}", *cells)
    verdicts = [
        d["verdict"] if d["able"] else f"[red]{d['verdict']}[/red]" for d in oracles.values()
    ]
    table.add_row("verdict", *verdicts)
    Console(width=120).print(table)


def _fmt(metric: dict[str, Any], *, signed: bool = False) -> str:
    if metric["value"] is None:
        return "–"
    fmt = "{:+.3f}" if signed else "{:.3f}"
    text = fmt.format(metric["value"])
    if metric["lo"] is not None:
        text += f" [{fmt.format(metric['lo'])}, {fmt.format(metric['hi'])}]"
    return text
