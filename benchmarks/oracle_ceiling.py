"""What a reader rewards: fixed action plans, some built from the generator's truth, scored.

On synthetic tasks every interaction says whether it is noise or signal, so the plans a
Stage 1 action verbalizer could learn can be written down and read by each reader: keep
everything, drop exactly the noise, enrich (genres) every line, enrich the signal and drop
the noise, and controls that drop as many lines at random or from the signal. The table is
the ceiling a learned plan can reach under each reader and how much of it filtering alone
is worth. No LLM runs, so it takes a minute.

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
    return 0


if __name__ == "__main__":
    sys.exit(main())
