"""How closely a trained action plan copies its teacher's, line by line.

Reads an experiment's content cache (``<out>/cache``: one verbalization per example and
verbalizer) and compares, on every example both rows verbalized, each line's code of the
student (``--student``, e.g. ``actions`` or ``numbered_actions``) with the teacher's
(``--teacher``, default ``heuristic_actions``): the share of lines that agree and the
confusion of codes. A warm start "reaches its teacher" in score long before it copies its
plans, so this says what the score hides.

    python benchmarks/plan_agreement.py runs/ml-sft-val --student actions

A cache holds one student row per verbalizer name; an experiment with several trained rows
of the same verbalizer name mixes them, so run it on a folder with one trained row per name.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path


def cached_plans(out: Path) -> dict[str, dict[str, list[str]]]:
    """Verbalizer name -> example id -> the plan's codes, from the store ``out/cache``."""
    from toolkit.cache import ContentStore

    rows: dict[str, dict[str, list[str]]] = collections.defaultdict(dict)
    for _, value in ContentStore(out / "cache").items():
        codes = (value.get("meta") or {}).get("codes")
        if value.get("grammar") and codes is not None:
            rows[value["verbalizer"]][value["example_id"]] = codes
    return rows


def agreement(
    teacher: dict[str, list[str]], student: dict[str, list[str]]
) -> tuple[int, collections.Counter]:
    """(examples compared, Counter of (teacher code, student code) over their lines)."""
    confusion: collections.Counter = collections.Counter()
    shared = sorted(set(teacher) & set(student))
    for ex in shared:
        confusion.update(zip(teacher[ex], student[ex], strict=True))
    return len(shared), confusion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="an experiment's output folder")
    parser.add_argument("--student", required=True)
    parser.add_argument("--teacher", default="heuristic_actions")
    args = parser.parse_args()
    if not (args.out / "cache").is_dir():
        sys.exit(f"error: {args.out / 'cache'}: no experiment cache here (vtk experiment --out)")
    rows = cached_plans(args.out)
    n, confusion = agreement(rows[args.teacher], rows[args.student])
    if not n:
        sys.exit(
            f"error: {args.out / 'cache'}: no example has both {args.teacher} and {args.student}"
        )
    lines = sum(confusion.values())
    same = sum(v for (t, s), v in confusion.items() if t == s)
    head = f"| {args.student} vs {args.teacher} | {n} plans | {lines} lines"
    print(f"{head} | agreement {same / lines:.3f} |")
    for t in sorted({t for t, _ in confusion}):
        total = sum(v for (a, _), v in confusion.items() if a == t)
        shares = ", ".join(
            f"{s} {v / total:.2f}" for (a, s), v in sorted(confusion.items()) if a == t
        )
        print(f"| teacher {t} | {total} lines | {shares} |")


if __name__ == "__main__":
    main()
