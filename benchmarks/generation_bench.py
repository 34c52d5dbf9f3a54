"""Constrained generation speed on the embedded SmolLM2-135M, side by side in one run.

    python benchmarks/generation_bench.py [--full] [--threads N] [--no-write]

1. Compile: per grammar and engine, the cold cost (compile + first mask, once the
   engine's vocabulary and the mask kernel are warm; those one-off costs are listed
   separately) against a cached ``get_processor`` + first mask.
2. Throughput: the same prompts under each built-in grammar, then unconstrained with
   ``min_new_tokens = max_new_tokens`` = the constrained run's decode steps, so both
   sides run exactly the same number of steps at the same batch size. Tokens/s counts
   rows x steps. Target: constrained >= 0.95x unconstrained. ``mask ms/step`` is the
   time inside the grammar mask itself.
3. Batch scaling: the action plan at 1, 4 and 8 prompts.

Each timing is the best of ``--repeat`` runs, constrained and unconstrained alternating,
after one untimed warm-up of each (the machine is shared). ``--quick`` (the default)
keeps the run to a few minutes on two cores; the numbers go to the "Generation" section
of ``benchmarks/RESULTS.md`` unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "RESULTS.md"

TITLES = [
    "Heat (1995)",
    "Kolya (1996)",
    "Amélie (2001)",
    "The Matrix (1999)",
    "Toy Story (1995)",
    "Fargo (1996)",
    "Star Wars (1977)",
    "Jaws (1975)",
]


@dataclass
class Case:
    grammar: str
    engine: str | None
    ctx: Any
    prompt: str


def cases() -> list[Case]:
    from grammars import GrammarContext

    plan = "For each interaction answer keep, drop or enrich, as a JSON list.\n" + "\n".join(
        f"{i + 1}. watched {t}" for i, t in enumerate(TITLES)
    )
    rewrite = "Summarise this viewing history as JSON: " + "; ".join(TITLES[:6])
    listed = "\n".join(f"{chr(65 + i)}. {t}" for i, t in enumerate([*TITLES, "Up", "Ran"]))
    return [
        Case("action_plan", None, GrammarContext(n_interactions=len(TITLES)), plan),
        Case(
            "rewrite",
            None,
            GrammarContext(extra={"titles": TITLES[:6], "aspects": ["Drama", "Sci-Fi"]}),
            rewrite,
        ),
        Case("choice", None, GrammarContext(n_candidates=10), f"Which next?\n{listed}\nAnswer:"),
    ]


def constraint_for(case: Case, engine: str | None = None) -> Any:
    """The grammar's constraint, on ``engine`` when given (the schema re-prepared for it)."""
    import dataclasses

    from grammars import get_grammar
    from grammars.base import canonical_json
    from grammars.engines import get_engine

    grammar = get_grammar(case.grammar)
    constraint = grammar.constraint(case.ctx)
    if engine is None or engine == constraint.engine:
        return constraint
    spec = constraint.spec
    if constraint.kind == "json_schema":
        spec = canonical_json(get_engine(engine).prepare(grammar.schema(case.ctx)))
    return dataclasses.replace(constraint, spec=spec, engine=engine)


class MaskTimer:
    """Seconds spent inside ``GrammarMask.__call__`` (patched for the benchmark only)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        from toolkit.backends import constraints

        original = constraints.GrammarMask.__call__

        def timed(mask: Any, input_ids: Any, scores: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(mask, input_ids, scores)
            finally:
                self.seconds += time.perf_counter() - start

        constraints.GrammarMask.__call__ = timed  # type: ignore[method-assign]
        try:
            yield
        finally:
            constraints.GrammarMask.__call__ = original  # type: ignore[method-assign]


def first_mask(processor: Any, vocab: int) -> None:
    import torch

    processor(torch.tensor([[0]]), torch.zeros(1, vocab))


def compile_times(tokenizer: Any, vocab: int) -> tuple[list[tuple[str, float]], list[tuple]]:
    """One-off warm-ups, then (grammar, engine, cold s, cached s) rows."""
    from grammars.base import Constraint
    from toolkit.backends import constraints as cc

    warmups = []
    cc.clear_cache(backends=True)
    for engine in ("outlines_core", "xgrammar", "llguidance"):
        start = time.perf_counter()
        cc._backend(engine, tokenizer, cc.tokenizer_fingerprint(tokenizer))
        setup = time.perf_counter() - start
        start = time.perf_counter()
        first_mask(cc.get_processor(Constraint("regex", "[ab]", engine, 2), tokenizer), vocab)
        warmups.append((engine, setup, time.perf_counter() - start))
    rows = []
    for case in cases():
        engines = ("llguidance", "outlines_core", "xgrammar")
        if case.grammar == "choice":
            engines = ("outlines_core", "llguidance", "xgrammar")
        for engine in engines:
            constraint = constraint_for(case, engine)
            cc.clear_cache()
            start = time.perf_counter()
            first_mask(cc.get_processor(constraint, tokenizer), vocab)
            cold = time.perf_counter() - start
            start = time.perf_counter()
            first_mask(cc.get_processor(constraint, tokenizer), vocab)
            rows.append((case.grammar, engine, cold, time.perf_counter() - start))
    return warmups, rows


@dataclass
class Run:
    seconds: float
    steps: int
    rows: int
    mask_seconds: float = 0.0


def run_once(gen: Any, prompts: list[str], constraint: Any, steps: int | None, seed: int) -> Run:
    from toolkit.backends.base import SamplingParams

    timer = MaskTimer()
    if steps is None:
        params = SamplingParams(temperature=1.0, seed=seed)
        gen.generate_kwargs = {}
    else:  # unconstrained, forced to the constrained run's number of steps
        params = SamplingParams(max_new_tokens=steps, temperature=1.0, seed=seed)
        gen.generate_kwargs = {"min_new_tokens": steps}
    with timer.installed():
        start = time.perf_counter()
        out = gen.generate(prompts, constraint, params=params)
        seconds = time.perf_counter() - start
    gen.generate_kwargs = {}
    width = max(len(c.token_ids) for group in out for c in group)
    if steps is not None:
        assert width == steps, (width, steps)
    return Run(seconds, width, len(prompts), timer.seconds)


def paired(gen: Any, prompts: list[str], constraint: Any, repeat: int) -> tuple[Run, Run]:
    """Best constrained and unconstrained runs of equal step counts, alternating, after
    one untimed warm-up of each (first-use costs are in the compile table)."""
    steps = run_once(gen, prompts, constraint, None, seed=0).steps
    run_once(gen, prompts, None, steps, seed=0)
    cons, free = [], []
    for i in range(repeat):
        cons.append(run_once(gen, prompts, constraint, None, seed=0))
        free.append(run_once(gen, prompts, None, steps, seed=i))
    return min(cons, key=lambda r: r.seconds), min(free, key=lambda r: r.seconds)


def tokens_per_s(run: Run) -> float:
    return run.rows * run.steps / run.seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", dest="quick", action="store_true", default=True)
    parser.add_argument("--full", dest="quick", action="store_false")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--no-write", dest="write", action="store_false")
    args = parser.parse_args(argv)
    repeat = args.repeat or (3 if args.quick else 5)
    batch = 4 if args.quick else 8
    scaling = (1, 4, 8)

    import torch
    from rich.console import Console
    from rich.table import Table

    from toolkit.backends.transformers_backend import TransformersGenerator
    from toolkit.models import load_model

    torch.set_num_threads(args.threads)
    console = Console(width=120)
    started = time.perf_counter()
    model, tokenizer = load_model()
    gen = TransformersGenerator(model, tokenizer, batch_size=max(scaling))
    vocab = model.config.vocab_size

    warmups, compiles = compile_times(tokenizer, vocab)
    t1 = Table(title="one-off per process: engine vocabulary + first mask (kernel warm-up)")
    for col in ("engine", "vocabulary (s)", "first mask (s)"):
        t1.add_column(col, justify="left" if col == "engine" else "right")
    for engine, setup, first in warmups:
        t1.add_row(engine, f"{setup:.2f}", f"{first:.2f}")
    console.print(t1)
    t2 = Table(title="compile + first mask, cold vs cached (ms)")
    for col in ("grammar", "engine", "cold", "cached"):
        t2.add_column(col, justify="left" if col in ("grammar", "engine") else "right")
    for grammar, engine, cold, cached in compiles:
        t2.add_row(grammar, engine, f"{cold * 1e3:.1f}", f"{cached * 1e3:.2f}")
    console.print(t2)

    throughput = []
    for case in cases():
        constraint = constraint_for(case)
        prompts = [case.prompt] * batch
        cons, free = paired(gen, prompts, constraint, repeat)
        throughput.append((case.grammar, constraint.engine, batch, cons, free))
    scale = []
    plan = cases()[0]
    for size in scaling:
        cons, free = paired(gen, [plan.prompt] * size, constraint_for(plan), repeat)
        scale.append(("action_plan", "llguidance", size, cons, free))

    def table(title: str, rows: list[tuple]) -> Table:
        t = Table(title=title)
        for col in (
            "grammar",
            "engine",
            "batch",
            "steps",
            "unconstrained tok/s",
            "constrained tok/s",
            "ratio",
            "mask ms/step",
        ):
            t.add_column(col, justify="left" if col in ("grammar", "engine") else "right")
        for grammar, engine, size, cons, free in rows:
            ratio = tokens_per_s(cons) / tokens_per_s(free)
            t.add_row(
                grammar,
                engine,
                str(size),
                str(cons.steps),
                f"{tokens_per_s(free):.1f}",
                f"{tokens_per_s(cons):.1f}",
                f"{ratio:.2f}" + ("" if ratio >= 0.95 else " (< 0.95)"),
                f"{cons.mask_seconds / cons.steps * 1e3:.2f}",
            )
        return t

    console.print(table(f"throughput, batch {batch}, same steps both sides", throughput))
    console.print(table("batch scaling (action plan)", scale))
    total = time.perf_counter() - started
    console.print(f"total {total:.0f} s, torch threads {args.threads}")
    if args.write:
        write_results(args, repeat, warmups, compiles, throughput, scale, total)
    return 0


def markdown_rows(rows: list[tuple]) -> list[str]:
    lines = [
        "| grammar | engine | batch | steps | unconstrained tok/s | constrained tok/s | ratio "
        "| mask ms/step |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for grammar, engine, size, cons, free in rows:
        ratio = tokens_per_s(cons) / tokens_per_s(free)
        lines.append(
            f"| {grammar} | {engine} | {size} | {cons.steps} | {tokens_per_s(free):.1f} "
            f"| {tokens_per_s(cons):.1f} | {ratio:.2f} "
            f"| {cons.mask_seconds / cons.steps * 1e3:.2f} |"
        )
    return lines


def write_results(args, repeat, warmups, compiles, throughput, scale, total) -> None:
    import os

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    mode = "--quick" if args.quick else "--full"
    lines = [
        "## Generation",
        "",
        f"`python benchmarks/generation_bench.py {mode} --threads {args.threads}` on the embedded "
        f"SmolLM2-135M (float32, CPU, {platform.machine()}, load average {load} at the end; "
        f"best of {repeat}; total {total:.0f} s). Tokens/s = rows x decode steps / wall "
        "time, prefill included; the unconstrained side is forced to the constrained side's "
        "step count (`min_new_tokens`), so each ratio compares equal work. Target: "
        "constrained >= 0.95x unconstrained.",
        "",
        *markdown_rows(throughput),
        "",
        "Batch scaling (action plan, 8 entries):",
        "",
        *markdown_rows(scale),
        "",
        "Compile + first mask, cold (nothing cached; the engine's vocabulary and mask kernel "
        "already warm) vs cached (`get_processor` hit):",
        "",
        "| grammar | engine | cold ms | cached ms |",
        "|---|---|---|---|",
        *(f"| {g} | {e} | {c * 1e3:.1f} | {h * 1e3:.2f} |" for g, e, c, h in compiles),
        "",
        "One-off per process and engine: building its vocabulary, and the first mask call "
        "(outlines_core and llguidance `torch.compile` their mask kernel; outlines_core runs "
        "first and also pays torch's compiler start-up):",
        "",
        "| engine | vocabulary s | first mask s |",
        "|---|---|---|",
        *(f"| {e} | {s:.2f} | {f:.2f} |" for e, s, f in warmups),
        "",
    ]
    replace_section(RESULTS, "Generation", "\n".join(lines))
    print(f"wrote the Generation section of {RESULTS}")


def replace_section(path: Path, title: str, body: str) -> None:
    """Replace the ``## title`` section of ``path`` (up to the next ``## ``), or append it."""
    text = path.read_text() if path.is_file() else "# Benchmark results\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: body + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + body
    path.write_text(text.rstrip("\n") + "\n")


if __name__ == "__main__":
    sys.exit(main())
