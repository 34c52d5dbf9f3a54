"""Data-path speed: read + prepare ML-100K rerank tasks, template verbalizer throughput.

    python benchmarks/data_bench.py [DATA_DIR]

DATA_DIR defaults to ``$VTK_SHARED_DATA`` or ``../shared/data`` beside the repository;
the benchmark skips with a message when ML-100K is not there. Targets: read + prepare
under 5 s; the template verbalizer at 200k interactions/s or more (over the prepared
test histories). Each timing is the best of ``--repeat`` runs (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SOURCE = "movielens-100k"


def data_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    return Path(os.environ.get("VTK_SHARED_DATA", ROOT.parent / "shared" / "data"))


def time_prepare(path: Path, out: Path) -> tuple[float, float, dict]:
    from toolkit.sources import read_source
    from toolkit.tasks import TaskConfig, prepare_tasks

    start = time.perf_counter()
    dataset = read_source(SOURCE, path)
    read = time.perf_counter() - start
    meta = prepare_tasks(dataset, out, TaskConfig())
    return read, time.perf_counter() - start - read, meta


def template_rate(histories: list, catalog, min_seconds: float = 1.0) -> float:
    """Interactions per second of ``render_template`` over ``histories``."""
    from toolkit.verbalizers.template import render_template

    n = sum(len(h) for h in histories)
    rounds, start = 0, time.perf_counter()
    while True:
        for h in histories:
            render_template(h, catalog)
        rounds += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return n * rounds / elapsed


def eval_seconds(tasks) -> float:
    """Fit and score the three non-LLM baselines on the test split, with intervals."""
    from toolkit.cli.evaluate import baseline_rows

    start = time.perf_counter()
    baseline_rows(tasks, tasks.split("test"))
    return time.perf_counter() - start


def synthetic_seconds(n_users: int = 1000) -> float:
    """CPU seconds to generate ``n_users`` synthetic users (catalog included)."""
    from toolkit.sources.synthetic import SyntheticConfig, generate

    generate(SyntheticConfig(n_users=5))  # imports
    start = time.process_time()  # CPU time: other processes share these cores
    generate(SyntheticConfig(n_users=n_users))
    return time.process_time() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", help="folder holding ml-100k/")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    path = data_dir(args.data) / "ml-100k"
    if not (path / "u.data").is_file():
        print(f"skip: ML-100K not found at {path} (give DATA_DIR or set VTK_SHARED_DATA)")
        return 0
    from toolkit.errors import UnknownNameError
    from toolkit.sources import get_source

    try:
        get_source(SOURCE)
    except UnknownNameError:
        print(f"skip: no {SOURCE!r} source reader is installed yet")
        return 0

    from rich.console import Console
    from rich.table import Table

    from toolkit.tasks import TaskSet

    with tempfile.TemporaryDirectory() as tmp:
        runs = [time_prepare(path, Path(tmp) / f"tasks{i}") for i in range(args.repeat)]
        meta = runs[-1][2]
        tasks = TaskSet.load(Path(tmp) / f"tasks{args.repeat - 1}", splits=("train", "test"))
    best = min(runs, key=lambda r: r[0] + r[1])
    total = best[0] + best[1]
    test = tasks.split("test")
    histories = [ex.history for ex in test]
    rates = [template_rate(histories, tasks.catalog) for _ in range(args.repeat)]
    rate = max(rates)
    evals = min(eval_seconds(tasks) for _ in range(args.repeat))

    table = Table(title=f"data benchmark: ML-100K ({sum(meta['counts'].values())} examples)")
    for name in ("measure", "value", "target", "ok"):
        table.add_column(name, justify="left" if name == "measure" else "right")
    median_total = statistics.median(r[0] + r[1] for r in runs)
    table.add_row("read ML-100K (s)", f"{best[0]:.2f}", "", "")
    table.add_row("prepare tasks (s)", f"{best[1]:.2f}", "", "")
    table.add_row(
        "read + prepare (s), best / median",
        f"{total:.2f} / {median_total:.2f}",
        "< 5",
        "yes" if total < 5 else "NO",
    )
    n = sum(len(h) for h in histories)
    table.add_row(
        f"template verbalizer ({n} interactions), interactions/s",
        f"{rate:,.0f}",
        ">= 200,000",
        "yes" if rate >= 200_000 else "NO",
    )
    table.add_row("eval 3 baselines on test, 1000 bootstrap (s)", f"{evals:.2f}", "", "")
    synthetic = min(synthetic_seconds() for _ in range(args.repeat))
    ok = "yes" if synthetic < 2 else "NO"
    table.add_row("synthetic logs, 1000 users (CPU s)", f"{synthetic:.2f}", "< 2", ok)
    Console(width=120).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
