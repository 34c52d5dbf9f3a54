"""The one evaluation pipeline: verbalize -> ask -> score -> summarize.

``vtk eval``, ``vtk experiment``, the oracle diagnostics and Stage 2's frozen contexts all
run these steps on the same ``Episode``s (``toolkit.episodes``), so one model gets one
number whichever command measures it. The policies, stated once:

* **window**: the verbalizer sees the episode's window (``HistoryView``); ``discovery`` is
  computed on it; every row records it (``extras["window"]``).
* **invalid outputs**: a verbalization that is not valid earns nothing (Recall@1, NDCG and
  MRR 0) and counts against the valid rate; the reader is still asked (its answer is kept
  for position statistics) but its answer is not credited.
* **ties**: Recall@1, NDCG and MRR credit tied scores at their expected value under a
  random tie-break (a reader that cannot tell candidates apart earns chance).
* **order**: the reader is shown the episode's candidate order, the same for every row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from toolkit.episodes import Episode
from toolkit.evaluation import EvalResult, Outcome, score_outcome, summarize
from toolkit.reasoners.base import Answer, Reasoner
from toolkit.records import Catalog

POLICIES = {
    "invalid": "an invalid verbalization scores 0 on every metric and counts as invalid",
    "ties": "tied scores earn their expected value under a random tie-break",
    "order": "candidates are shown in the episode's order, a function of (seed, example id)",
}


def verbalize(
    episodes: Sequence[Episode],
    catalog: Catalog,
    verbalizer: Any,
    *,
    store: Any = None,
    cached: Sequence[dict[str, Any]] = (),
    batch_size: int = 8,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """One verbalization row per episode (``toolkit.verbalize`` rows, content-keyed)."""
    from toolkit.verbalize import verbalize_examples

    windows = {ep.window for ep in episodes}
    if len(windows) > 1:
        raise ValueError(f"episodes with different windows {sorted(windows, key=str)}")
    return verbalize_examples(
        [ep.example for ep in episodes],
        catalog,
        verbalizer,
        batch_size=batch_size,
        max_history=windows.pop() if windows else None,
        progress=progress,
        store=store,
        cached=cached,
    )


def verbalize_named(
    episodes: Sequence[Episode],
    tasks: Any,
    name: str,
    *,
    model: str | None = None,
    store: Any = None,
    cached: Sequence[dict[str, Any]] = (),
    batch_size: int = 8,
    seed: int = 0,
    max_new_tokens: int | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """``verbalize`` with the verbalizer registered as ``name`` (weights ``model``) built for
    the task set's domain: the one way ``vtk eval`` and ``vtk experiment`` make their rows.
    Cached rows (a ``vtk verbalize`` file, a content store) are used where their key matches."""
    from toolkit.verbalize import build_verbalizer

    verbalizer = build_verbalizer(
        name,
        model=model,
        domain=tasks.domain,
        batch_size=batch_size,
        seed=seed,
        max_new_tokens=max_new_tokens,
    )
    return verbalize(
        episodes,
        tasks.catalog,
        verbalizer,
        store=store,
        cached=cached,
        batch_size=batch_size,
        progress=progress,
    )


def ask(
    reasoner: Reasoner,
    episodes: Sequence[Episode],
    contexts: Sequence[str],
    *,
    batch_size: int = 8,
    progress: bool = False,
    desc: str = "reasoner",
    store: Any = None,
) -> list[Answer]:
    """The reader's answer to each (context, episode), candidates in the episode's order;
    with a ``store`` an LLM reader's answers are content-cached (``answer_contexts``)."""
    from toolkit.reasoners import answer_contexts

    return answer_contexts(
        reasoner,
        [ep.example for ep in episodes],
        contexts,
        batch_size=batch_size,
        progress=progress,
        desc=desc,
        orders=[ep.order for ep in episodes],
        store=store,
    )


def score(
    episodes: Sequence[Episode],
    answers: Sequence[Answer],
    valid: Sequence[bool] | None = None,
    *,
    single_order: bool = False,
) -> list[Outcome]:
    """Outcomes under the stated policies; ``single_order`` reads the LLM reader's shift-0
    scores (``meta["single_scores"]``) instead of its position-fair average."""
    valid = [True] * len(episodes) if valid is None else valid
    out = []
    for ep, answer, ok in zip(episodes, answers, valid, strict=True):
        ex = ep.example
        scores = answer.meta.get("single_scores", answer.scores) if single_order else answer.scores
        if not ok:
            out.append(Outcome(ex.example_id, ex.discovery, 0.0, False, 0.0, 0.0))
            continue
        outcome = score_outcome(ex.example_id, ex.discovery, ex.target_index, scores)
        out.append(outcome if answer.valid else dataclasses.replace(outcome, valid=False))
    return out


def _mean(values: Sequence[float | None]) -> float | None:
    clean = [float(v) for v in values if v is not None]
    return sum(clean) / len(clean) if clean else None


def first_position_share(answers: Sequence[Answer], key: str = "shown_position") -> float | None:
    """Share of answers whose pick sat in the first shown slot (10% is fair for 10)."""
    shown = [a.meta.get(key) for a in answers if a.meta.get(key) is not None]
    return sum(1 for s in shown if s == 0) / len(shown) if shown else None


def evaluate_row(
    name: str,
    episodes: Sequence[Episode],
    rows: Sequence[dict[str, Any]],
    reasoner: Reasoner,
    *,
    batch_size: int = 8,
    n_boot: int = 1000,
    seed: int = 0,
    progress: bool = False,
    extras: dict[str, Any] | None = None,
    store: Any = None,
) -> EvalResult:
    """Ask, score and summarize one (verbalization rows, reader) pair; ``store`` caches an
    LLM reader's answers (raw, before calibration) by content."""
    from toolkit.reasoners.positions import batch_calibrate, position_stats

    answers = ask(
        reasoner,
        episodes,
        [r["text"] for r in rows],
        batch_size=batch_size,
        progress=progress,
        desc=name,
        store=store,
    )
    if getattr(reasoner, "calibrate", "none") == "batch":  # over the whole row
        answers = batch_calibrate(answers)
    if hasattr(reasoner, "positions"):  # this row's picks only, cached ones included
        reasoner.positions = position_stats(answers)
    valid = [bool(r["valid"]) for r in rows]
    outcomes = score(episodes, answers, valid)
    positions = reasoner.positions.summary() if hasattr(reasoner, "positions") else None
    info: dict[str, Any] = {
        "window": episodes[0].window if episodes else None,
        "compression": _mean([r.get("compression") for r in rows]),
        "tokens": _mean([r.get("tokens") for r in rows]),
        "valid_rate": sum(valid) / len(valid) if valid else None,
        "first_position_share": first_position_share(answers),
        "positions": positions,
    }
    if answers and "single_scores" in answers[0].meta:
        single = score(episodes, answers, valid, single_order=True)
        info["shifts"] = answers[0].meta.get("shifts")
        info["single_order_recall@1"] = _mean([o.hit for o in single])
        info["single_order_first_position_share"] = first_position_share(
            answers, "single_shown_position"
        )
        if answers[0].meta.get("calibration"):
            info["calibration"] = answers[0].meta["calibration"]
    info.update(extras or {})
    return summarize(name, outcomes, extras=info, n_boot=n_boot, seed=seed)


def scorer_row(
    name: str,
    episodes: Sequence[Episode],
    scorer: Any,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    extras: dict[str, Any] | None = None,
) -> EvalResult:
    """A non-LLM baseline (``toolkit.baselines``) on the episodes' windows."""
    scores = scorer.score_batch([ep.example for ep in episodes])
    outcomes = [
        score_outcome(ep.example.example_id, ep.example.discovery, ep.example.target_index, s)
        for ep, s in zip(episodes, scores, strict=True)
    ]
    info = {"window": episodes[0].window if episodes else None, **(extras or {})}
    return summarize(name, outcomes, extras=info, n_boot=n_boot, seed=seed)
