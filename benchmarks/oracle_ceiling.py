"""What a reader rewards: fixed action plans, some built from the generator's truth, scored.

On synthetic tasks every interaction says whether it is noise or signal, so the plans a
Stage 1 action verbalizer could learn can be written down and read by each reader: keep
everything, drop exactly the noise, enrich (genres) every line, enrich the signal and drop
the noise, and controls that drop as many lines at random or from the signal. The table is
the ceiling a learned plan can reach under each reader and how much of it filtering alone
is worth. `--line-values` adds what one keep/drop decision is worth: each line dropped
alone from keep-everything, the change in p(target) (the `soft_accuracy` reward) split by
noise/signal line and discovery/repeat target, which is the signal per-line credit
(`rewards.line_credit`) can pass on. No LLM runs, so it takes a minute or two.

    vtk data prepare synthetic --out /tmp/syn --max-history 10 -O n_users=400 ...
    python benchmarks/oracle_ceiling.py /tmp/syn --split val --limit 200 --readers bm25,embedding
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

Plan = Callable[[list[bool], random.Random], list[str]]


def _drop_at_random(flags: list[bool], rng: random.Random) -> list[str]:
    """As many drops as the history has noise lines, at random positions."""
    dropped = set(rng.sample(range(len(flags)), flags.count(False)))
    return ["drop" if i in dropped else "keep" for i in range(len(flags))]


PLANS: dict[str, Plan] = {
    "keep every line": lambda f, r: ["keep"] * len(f),
    "drop the noise": lambda f, r: ["keep" if s else "drop" for s in f],
    "drop as many at random": _drop_at_random,
    "enrich every line": lambda f, r: ["enrich"] * len(f),
    "enrich the signal, drop the noise": lambda f, r: ["enrich" if s else "drop" for s in f],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tasks", type=Path)
    parser.add_argument("--split", default="val")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--readers", default="bm25,embedding")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--line-values", action="store_true")
    args = parser.parse_args(argv)

    from toolkit.models import load_tokenizer
    from toolkit.reasoners.base import ReasonerInput
    from toolkit.tasks import TaskSet
    from trainers.config import OracleSettings, PolicySettings
    from trainers.rewards import target_probability
    from trainers.stage1 import build_oracle, policy_verbalizer

    tasks = TaskSet.load(args.tasks)
    examples = [e.shown(args.window) for e in tasks.split(args.split)[: args.limit]]
    if not all("signal" in x.attrs for e in examples for x in e.history.interactions):
        print("these tasks carry no noise/signal flags (synthetic data only)", file=sys.stderr)
        return 2
    policy = policy_verbalizer(PolicySettings(name="actions"), load_tokenizer(), tasks.domain)
    readers = {
        n: build_oracle(OracleSettings(name=n), tasks.catalog) for n in args.readers.split(",")
    }
    print(f"{len(examples)} {args.split} examples, last {args.window} interactions\n")
    print(
        "| plan | compression | "
        + " | ".join(f"{n} Recall@1 | {n} p(target)" for n in readers)
        + " |"
    )
    print("|---|---|" + "---|---|" * len(readers))
    for name, plan in PLANS.items():
        rng = random.Random(args.seed)
        texts = [
            policy.decode(
                json.dumps(plan([x.attrs["signal"] for x in e.history.interactions], rng)),
                e.history,
                tasks.catalog,
            )
            for e in examples
        ]
        cells = [f"{sum(v.compression for v in texts) / len(texts):.2f}"]
        for reader in readers.values():
            answers = reader.answer_batch(
                [ReasonerInput(v.text, e.candidates) for v, e in zip(texts, examples, strict=True)]
            )
            hits = [a.pick == e.target_index for a, e in zip(answers, examples, strict=True)]
            soft = [
                target_probability(a.scores, e.target_index)
                for a, e in zip(answers, examples, strict=True)
            ]
            cells += [f"{sum(hits) / len(hits):.3f}", f"{sum(soft) / len(soft):.3f}"]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    if args.line_values:
        for name, reader in readers.items():
            _print_line_values(name, reader, policy, examples, tasks.catalog)
    return 0


def _print_line_values(name, reader, policy, examples, catalog) -> None:
    """Drop each line alone from keep-everything; mean change of p(target) per line kind."""
    import statistics

    from toolkit.reasoners.base import ReasonerInput
    from trainers.rewards import target_probability

    inputs, where = [], []
    for e in examples:
        n = len(e.history.interactions)
        plans = [["keep"] * n] + [
            ["keep"] * i + ["drop"] + ["keep"] * (n - i - 1) for i in range(n)
        ]
        base = len(inputs)
        for plan in plans:
            text = policy.decode(json.dumps(plan), e.history, catalog).text
            inputs.append((ReasonerInput(text, e.candidates), e.target_index))
        for i, x in enumerate(e.history.interactions):
            kind = (
                "signal" if x.attrs["signal"] else "noise",
                "discovery" if e.discovery else "repeat",
            )
            where.append((base, base + 1 + i, kind))
    answers = reader.answer_batch([i for i, _ in inputs])
    p = [target_probability(a.scores, t) for a, (_, t) in zip(answers, inputs, strict=True)]
    groups: dict[tuple[str, str], list[float]] = {}
    for base, dropped, kind in where:
        groups.setdefault(kind, []).append(p[dropped] - p[base])
    print(f"\n{name}: p(target) change when one line is dropped from keep-everything\n")
    print("| line | target | lines | mean change | sd | share > 0 | share < 0 |")
    print("|---|---|---|---|---|---|---|")
    for (line, target), d in sorted(groups.items()):
        up, down = sum(v > 0 for v in d) / len(d), sum(v < 0 for v in d) / len(d)
        print(
            f"| {line} | {target} | {len(d)} | {statistics.fmean(d):+.4f} | "
            f"{statistics.pstdev(d):.4f} | {up:.0%} | {down:.0%} |",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main())
