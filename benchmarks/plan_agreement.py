"""How closely a trained action plan copies its teacher's, line by line.

Reads an experiment's content cache (``<out>/cache``: one verbalization per example and
verbalizer) and compares, on every example both rows verbalized, each line's code of the
student (``--student``, e.g. ``actions`` or ``numbered_actions``) with the teacher's
(``--teacher``, default ``heuristic_actions``): the share of lines that agree and the
confusion of codes. A warm start "reaches its teacher" in score long before it copies its
plans, so this says what the score hides.

    python benchmarks/plan_agreement.py runs/ml-sft-val --student actions

An experiment with several trained rows of one verbalizer name (RL only, SFT only, SFT + RL)
has one student per set of weights: each is reported on its own line, named by its weights'
fingerprint (the ``weights`` field of its rows; the run's ``final`` adapter has the same one:
``toolkit.verbalize.verbalizer_identity``). Rows cached before that field existed are one
student, ``unknown``.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path


def cached_plans(out: Path) -> dict[str, dict[str, dict[str, list[str]]]]:
    """Verbalizer name -> weights fingerprint -> example id -> the plan's codes, from the
    store ``out/cache``."""
    from toolkit.cache import ContentStore

    rows: dict[str, dict[str, dict[str, list[str]]]] = collections.defaultdict(
        lambda: collections.defaultdict(dict)
    )
    for _, value in ContentStore(out / "cache").items():
        codes = (value.get("meta") or {}).get("codes")
        if value.get("grammar") and codes is not None:
            weights = value.get("weights") or "unknown"
            rows[value["verbalizer"]][weights][value["example_id"]] = codes
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
    teacher: dict[str, list[str]] = {}
    for plans in rows.get(args.teacher, {}).values():  # rules have no weights: one group
        teacher.update(plans)
    students = rows.get(args.student, {})
    compared = {w: agreement(teacher, plans) for w, plans in sorted(students.items())}
    if not any(n for n, _ in compared.values()):
        sys.exit(
            f"error: {args.out / 'cache'}: no example has both {args.teacher} and {args.student}"
        )
    for weights, (n, confusion) in compared.items():
        if not n:
            continue
        lines = sum(confusion.values())
        same = sum(v for (t, s), v in confusion.items() if t == s)
        head = f"| {args.student} (weights {weights}) vs {args.teacher} | {n} plans | {lines} lines"
        print(f"{head} | agreement {same / lines:.3f} |")
        for t in sorted({t for t, _ in confusion}):
            total = sum(v for (a, _), v in confusion.items() if a == t)
            shares = ", ".join(
                f"{s} {v / total:.2f}" for (a, s), v in sorted(confusion.items()) if a == t
            )
            print(f"| teacher {t} | {total} lines | {shares} |")


if __name__ == "__main__":
    main()
