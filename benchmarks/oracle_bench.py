"""Can the embedding oracle train a verbalizer on ML-100K? Recall@1 on the validation split.

    python benchmarks/oracle_bench.py [DATA_DIR] [--limit N] [--max-history 20] [--out F.json]

Prepares ML-100K leave-last-out tasks (popularity-weighted negatives, seed 0) in a temporary
folder, then scores the validation split with: random and popularity (context), and the
MiniLM embedding oracle reading the context under every diagnostic condition of
``toolkit.diagnostics`` (template, the two rule-based verbalizations, the template of the
shuffled history, the three oldest interactions). Prints one table: Recall@1 with its
bootstrap 95% interval, and paired differences (oracle minus popularity; template and
heuristic minus each degradation) with paired bootstrap intervals. Validation only: nothing
here looks at the test split. Skips with a message when ML-100K is not there.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.data_bench import data_dir  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?")
    parser.add_argument("--limit", type=int, default=None, help="first N val examples")
    parser.add_argument("--max-history", type=int, default=20)
    parser.add_argument("--recency", type=float, default=None, help="oracle half-life")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--out", type=Path, help="write the numbers as JSON here")
    args = parser.parse_args()
    path = data_dir(args.data) / "ml-100k"
    if not path.is_dir():
        print(f"skipped: {path} not found (see ../shared/data/README.md)")
        return 0

    from rich.console import Console
    from rich.table import Table

    from toolkit.baselines import BASELINES
    from toolkit.diagnostics import DEGRADED, GOOD, condition_texts, paired_difference
    from toolkit.evaluation import RECALL, evaluate
    from toolkit.reasoners import answer_contexts
    from toolkit.reasoners.embedding import EmbeddingReasoner
    from toolkit.sources import read_source
    from toolkit.tasks import TaskConfig, TaskSet, prepare_tasks

    with tempfile.TemporaryDirectory() as tmp:
        prepare_tasks(read_source("movielens-100k", path), Path(tmp), TaskConfig())
        tasks = TaskSet.load(Path(tmp))
    examples = tasks.split("val")[: args.limit]
    n, nb = len(examples), args.n_boot
    hits: dict[str, list[float]] = {}
    rows: dict[str, dict] = {}
    for name in ("random", "popularity"):
        scorer = BASELINES.get(name)(seed=0).fit(tasks.split("train"), tasks.catalog)
        res = evaluate(name, examples, [scorer.score(e) for e in examples], n_boot=nb)
        hits[name] = [o.hit for o in res.outcomes]
        rows[name] = {"recall@1": res.metrics[RECALL].to_json(), "seconds": None}
    oracle = EmbeddingReasoner(tasks.catalog, recency=args.recency)
    for condition in (*GOOD, *DEGRADED):
        start = time.perf_counter()
        texts = condition_texts(
            examples, tasks.catalog, condition, domain=tasks.domain, max_history=args.max_history
        )
        answers = answer_contexts(
            oracle, examples, texts, batch_size=32, progress=True, desc=condition
        )
        res = evaluate(condition, examples, [a.scores for a in answers], n_boot=nb)
        hits[condition] = [o.hit for o in res.outcomes]
        rows[f"oracle | {condition}"] = {
            "recall@1": res.metrics[RECALL].to_json(),
            "seconds": time.perf_counter() - start,
        }
    pairs = [(c, "popularity") for c in GOOD]
    pairs += [(g, b) for g in GOOD for b in DEGRADED]
    diffs = {f"{a} − {b}": paired_difference(hits[a], hits[b], nb).to_json() for a, b in pairs}

    table = Table(title=f"ML-100K val, n={n}, max history {args.max_history}, oracle: MiniLM")
    for col in ("row", "Recall@1 [95% CI]", "s"):
        table.add_column(col, justify="left" if col == "row" else "right")
    for name, row in rows.items():
        m = row["recall@1"]
        secs = "" if row["seconds"] is None else f"{row['seconds']:.0f}"
        table.add_row(name, f"{m['value']:.3f} [{m['lo']:.3f}, {m['hi']:.3f}]", secs)
    for name, m in diffs.items():
        table.add_row(f"Δ {name}", f"{m['value']:+.3f} [{m['lo']:+.3f}, {m['hi']:+.3f}]", "")
    Console(width=120).print(table)
    if args.out:
        from toolkit.io import write_json

        write_json(
            args.out, {"n": n, "max_history": args.max_history, "rows": rows, "diffs": diffs}
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
