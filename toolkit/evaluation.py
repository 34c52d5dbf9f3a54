"""Metrics of rerank answers, with bootstrap intervals and paired comparisons to a baseline.

Three layers, each usable alone: per-example metric functions on candidate scores
(``recall_at_1``, ``ndcg_at_k``, ``mrr``), per-example ``Outcome``s (``score_examples``),
and an ``EvalResult`` row whose ``metrics`` is a plain dict name -> ``Metric`` so that any
scorer (a non-LLM baseline, a verbalizer + reasoner pair) fills the same table.

Ties among scores count as their expected value under a random tie-break, so a scorer
that cannot tell candidates apart earns chance, whatever their positions.

>>> r = evaluate_scores("toy", [True, True], [1, 0], [[0.2, 0.9], [0.1, 0.5]], n_boot=0)
>>> r.metrics["recall@1"].value
0.5
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from toolkit.errors import UnknownNameError

if TYPE_CHECKING:
    from rich.console import Console

    from toolkit.tasks import RerankExample

RECALL = "recall@1"
RECALL_DISCOVERY = "recall@1/discovery"
RECALL_REPEAT = "recall@1/repeat"
NDCG = "ndcg@10"
MRR = "mrr"
VALID = "valid"
CHANGE = "change"
"""Prefix of a relative-change metric: ``change/recall@1/discovery``."""


# ------------------------------------------------------------------ per-example metrics


def _ranks(scores: Sequence[float], target_index: int) -> range:
    """The ranks (1-based) the target may take: after every strictly better candidate,
    anywhere among the candidates tied with it. NaN counts as the lowest score."""
    clean = [-math.inf if s != s else s for s in scores]
    t = clean[target_index]
    better = sum(1 for s in clean if s > t)
    tied = sum(1 for s in clean if s == t)
    return range(better + 1, better + tied + 1)


def recall_at_1(scores: Sequence[float], target_index: int) -> float:
    """1 if the target scores highest, ``1/k`` if it ties with ``k - 1`` others.

    >>> recall_at_1([0.1, 0.9, 0.3], 1), recall_at_1([0.5, 0.5, 0.1], 0)
    (1.0, 0.5)
    """
    ranks = _ranks(scores, target_index)
    return 1.0 / len(ranks) if ranks[0] == 1 else 0.0


def ndcg_at_k(scores: Sequence[float], target_index: int, k: int = 10) -> float:
    """NDCG@k with one relevant item: ``1 / log2(rank + 1)`` if rank <= k.

    >>> round(ndcg_at_k([0.9, 0.5, 0.1], 1), 4)
    0.6309
    """
    ranks = _ranks(scores, target_index)
    return sum(1.0 / math.log2(r + 1) for r in ranks if r <= k) / len(ranks)


def mrr(scores: Sequence[float], target_index: int) -> float:
    """Reciprocal rank of the target.

    >>> mrr([0.9, 0.5, 0.1], 2)
    0.3333333333333333
    """
    ranks = _ranks(scores, target_index)
    return sum(1.0 / r for r in ranks) / len(ranks)


@dataclass(frozen=True)
class Outcome:
    """One answered example. ``hit`` is the Recall@1 credit; rank metrics are None when
    the scorer gave no scores (a generated answer only)."""

    example_id: str
    discovery: bool
    hit: float
    valid: bool = True
    ndcg: float | None = None
    mrr: float | None = None


def score_outcome(
    example_id: str,
    discovery: bool,
    target_index: int,
    scores: Sequence[float] | None,
    pick: int | None = None,
    *,
    use_pick: bool = False,
    k: int = 10,
) -> Outcome:
    """Score one answer. With ``use_pick`` the Recall@1 credit comes from ``pick`` (an
    invalid answer, ``pick=None``, is a miss); otherwise from the scores' arg-max."""
    if use_pick:
        hit, valid = float(pick == target_index), pick is not None
    elif scores is None:
        hit, valid = 0.0, False
    else:
        hit, valid = recall_at_1(scores, target_index), True
    if scores is None:
        return Outcome(example_id, discovery, hit, valid)
    return Outcome(
        example_id,
        discovery,
        hit,
        valid,
        ndcg_at_k(scores, target_index, k),
        mrr(scores, target_index),
    )


def score_examples(
    examples: Sequence[RerankExample],
    scores: Sequence[Sequence[float] | None],
    picks: Sequence[int | None] | None = None,
    *,
    k: int = 10,
) -> list[Outcome]:
    """Outcomes of scores (one per candidate, in the example's order) and optional picks."""
    if len(scores) != len(examples) or (picks is not None and len(picks) != len(examples)):
        raise ValueError(f"{len(examples)} examples but {len(scores)} score lists / picks")
    out = []
    for i, ex in enumerate(examples):
        s = scores[i]
        if s is not None and len(s) != len(ex.candidates):
            raise ValueError(
                f"example {ex.example_id}: {len(s)} scores for {len(ex.candidates)} candidates"
            )
        pick = None if picks is None else picks[i]
        out.append(
            score_outcome(
                ex.example_id,
                ex.discovery,
                ex.target_index,
                s,
                pick,
                use_pick=picks is not None,
                k=k,
            )
        )
    return out


# ------------------------------------------------------------------------- aggregation


@dataclass(frozen=True)
class Metric:
    """A mean with its 95% interval over ``n`` examples (value None when n is 0)."""

    value: float | None
    lo: float | None = None
    hi: float | None = None
    n: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "lo": self.lo, "hi": self.hi, "n": self.n}

    def format(self, *, signed: bool = False, ci: bool = True) -> str:
        if self.value is None:
            return "–"
        fmt = "{:+.1%}" if signed else "{:.3f}"
        text = fmt.format(self.value)
        if ci and self.lo is not None and self.hi is not None:
            text += f" [{fmt.format(self.lo)}, {fmt.format(self.hi)}]"
        return text


def bootstrap_ci(
    values: Sequence[float], n: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float | None, float | None]:
    """Bootstrap interval of the mean (BCa via ``scipy.stats.bootstrap``; percentile when
    BCa is degenerate); (None, None) without values or ``n``.

    >>> lo, hi = bootstrap_ci([0, 1] * 50, seed=1)
    >>> lo < 0.5 < hi
    True
    """
    import numpy as np

    from toolkit.stats import bootstrap_interval

    if not len(values):
        return None, None
    return bootstrap_interval(
        (values,), lambda x, axis=-1: np.mean(x, axis=axis), n_boot=n, seed=seed, level=level
    )


def relative_change(
    a: Sequence[float],
    b: Sequence[float],
    n: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Metric:
    """``mean(a) / mean(b) - 1`` for paired values (same examples, same order), with a
    paired bootstrap interval that keeps every resample (``toolkit.stats``); value None
    (undefined) when ``mean(b)`` is 0.

    >>> relative_change([1, 1, 0, 1], [1, 0, 0, 1], n=0).value
    0.5
    """
    from toolkit.stats import paired_comparison

    return paired_comparison(a, b, n_boot=n, seed=seed, level=level).change


# Which outcomes and which field each per-example metric averages.
_PER_EXAMPLE: dict[str, tuple[bool | None, str]] = {
    RECALL: (None, "hit"),
    RECALL_DISCOVERY: (True, "hit"),
    RECALL_REPEAT: (False, "hit"),
    NDCG: (None, "ndcg"),
    MRR: (None, "mrr"),
    VALID: (None, "valid"),
}


def per_example(outcomes: Sequence[Outcome], metric: str) -> dict[str, float]:
    """``example_id -> value`` of one metric (only the examples it is defined on)."""
    try:
        discovery, attr = _PER_EXAMPLE[metric]
    except KeyError:
        raise UnknownNameError(
            f"unknown metric {metric!r}; known: {', '.join(_PER_EXAMPLE)}"
        ) from None
    out = {}
    for o in outcomes:
        value = getattr(o, attr)
        if value is not None and (discovery is None or o.discovery == discovery):
            out[o.example_id] = float(value)
    return out


@dataclass
class EvalResult:
    """One table row: a named scorer on a set of examples."""

    name: str
    outcomes: list[Outcome]
    metrics: dict[str, Metric] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    comparisons: dict[str, Any] = field(default_factory=dict)
    """``"<metric> vs <row>"`` -> ``toolkit.stats.PairedComparison`` (filled by ``compare``)."""

    @property
    def n(self) -> int:
        return len(self.outcomes)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n": self.n,
            "metrics": {k: m.to_json() for k, m in self.metrics.items()},
            "extras": self.extras,
            "comparisons": {k: c.to_json() for k, c in self.comparisons.items()},
        }


def summarize(
    name: str,
    outcomes: list[Outcome],
    *,
    extras: dict[str, Any] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> EvalResult:
    """Aggregate outcomes into a row: every per-example metric with its bootstrap CI."""
    metrics = {}
    for metric in _PER_EXAMPLE:
        values = list(per_example(outcomes, metric).values())
        if not values and metric in (NDCG, MRR):
            continue  # a generate-only scorer has no rank metrics
        lo, hi = bootstrap_ci(values, n_boot, seed)
        mean = sum(values) / len(values) if values else None
        metrics[metric] = Metric(mean, lo, hi, len(values))
    return EvalResult(name, outcomes, metrics, dict(extras or {}))


def evaluate_scores(
    name: str,
    discovery: Sequence[bool],
    target_index: Sequence[int],
    scores: Sequence[Sequence[float]],
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> EvalResult:
    """A row from bare arrays (no ``RerankExample`` needed); ids are positions."""
    outcomes = [
        score_outcome(str(i), d, t, s)
        for i, (d, t, s) in enumerate(zip(discovery, target_index, scores, strict=True))
    ]
    return summarize(name, outcomes, n_boot=n_boot, seed=seed)


def evaluate(
    name: str,
    examples: Sequence[RerankExample],
    scores: Sequence[Sequence[float] | None],
    picks: Sequence[int | None] | None = None,
    *,
    extras: dict[str, Any] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> EvalResult:
    """Score and aggregate in one call."""
    outcomes = score_examples(examples, scores, picks)
    return summarize(name, outcomes, extras=extras, n_boot=n_boot, seed=seed)


def find_row(rows: Sequence[EvalResult], name: str) -> EvalResult:
    for row in rows:
        if row.name == name:
            return row
    known = ", ".join(r.name for r in rows) or "(none)"
    raise UnknownNameError(f"no result row named {name!r} to compare against; rows: {known}")


def compare(
    rows: Sequence[EvalResult],
    baseline: str,
    metric: str = RECALL_DISCOVERY,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> str:
    """Compare every row with the ``baseline`` row on ``metric``, paired on the examples
    both answered (``toolkit.stats.paired_comparison``: difference, ratio-of-means change,
    paired p (McNemar, or sign-flip on tie credits), verdict); store it in
    ``row.comparisons`` and the change as the metric ``change/<metric>``; return that
    metric's name."""
    from toolkit.stats import paired_comparison

    base = per_example(find_row(rows, baseline).outcomes, metric)
    key = f"{CHANGE}/{metric}"
    for row in rows:
        mine = per_example(row.outcomes, metric)
        shared = [i for i in mine if i in base]
        comparison = paired_comparison(
            [mine[i] for i in shared], [base[i] for i in shared], n_boot=n_boot, seed=seed
        )
        row.comparisons[f"{metric} vs {baseline}"] = comparison
        row.metrics[key] = comparison.change
    return key


# ------------------------------------------------------------------------------- table

_COLUMNS = (
    (RECALL, "Recall@1"),
    (RECALL_DISCOVERY, "R@1 discovery"),
    (RECALL_REPEAT, "R@1 repeat"),
    (NDCG, "NDCG@10"),
    (MRR, "MRR"),
    (VALID, "valid"),
)


_EMPTY = Metric(None)


def _p(p: float | None) -> str:
    return "–" if p is None else f"p={p:.2g}"


def _cell(metric: Metric, *, signed: bool = False, percent: bool = True) -> str:
    """The value, and its interval on a second line, so columns stay narrow."""
    if metric.value is None:
        return "–"
    fmt = ("{:+.1%}" if percent else "{:+.3f}") if signed else "{:.3f}"
    text = fmt.format(metric.value)
    if metric.lo is not None and metric.hi is not None:
        text += f"\n[dim]{fmt.format(metric.lo)}–{fmt.format(metric.hi)}[/dim]"
    return text


def _extra(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "–" if value is None else str(value)


def print_table(
    rows: Sequence[EvalResult],
    baseline: str | None = None,
    *,
    metric: str = RECALL_DISCOVERY,
    title: str | None = None,
    console: Console | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> None:
    """Print rows as a rich table; with ``baseline``, a column of relative change in
    ``metric`` against that row (computed here when ``compare`` has not run)."""
    from rich.console import Console
    from rich.table import Table

    if console is None:
        console = Console()
        if not console.is_terminal:  # logs and pipes: do not squeeze the table into 80
            console = Console(width=160)
    table = Table(title=title)
    table.add_column("name", style="bold")
    table.add_column("n", justify="right")
    shown = [(k, label) for k, label in _COLUMNS if any(r.metrics.get(k, _EMPTY).n for r in rows)]
    for _, label in shown:
        table.add_column(label, justify="right")
    change = f"{CHANGE}/{metric}"
    if baseline is not None:
        if any(change not in r.metrics for r in rows):
            compare(rows, baseline, metric, n_boot=n_boot, seed=seed)
        label = dict(_COLUMNS).get(metric, metric)
        table.add_column(f"{label} vs {baseline}: Δ, change, paired p", justify="right")
    extras = list(dict.fromkeys(k for r in rows for k in r.extras))
    for key in extras:
        table.add_column(key, justify="right")
    for row in rows:
        cells = [row.name, str(row.n)]
        cells += [_cell(row.metrics.get(key, _EMPTY)) for key, _ in shown]
        if baseline is not None:
            c = row.comparisons.get(f"{metric} vs {baseline}")
            if row.name == baseline:
                cells.append("(baseline)")
            elif c is None:
                cells.append(_cell(row.metrics[change], signed=True))
            else:
                rel = "undefined" if c.change.value is None else _cell(c.change, signed=True)
                cells.append(
                    f"{_cell(c.diff, signed=True, percent=False)}\n{rel}\n"
                    f"{_p(c.p_value)}: {c.verdict}"
                )
        cells += [_extra(row.extras.get(k)) for k in extras]
        table.add_row(*cells)
    console.print(table)
