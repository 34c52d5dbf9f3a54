"""Pair the Stage 2 probe's trained and untrained readers over the same 200 val users, from
the answer cache the two `vtk eval` runs filled (no model forward is repeated)."""

import json

from toolkit.cache import ContentStore
from toolkit.cli.evaluate import verbalization_rows
from toolkit.episodes import build_episodes
from toolkit.pipeline import evaluate_row
from toolkit.reasoners import build_reasoner
from toolkit.stats import paired_comparison
from toolkit.tasks import TaskSet

tasks = TaskSet.load("/work/runs/demo-full/tasks", splits=("train", "val"))
episodes = build_episodes(tasks.split("val")[:200], window=10, seed=0)
store = ContentStore("/work/probe/s2/cache")
rows = verbalization_rows(tasks, episodes, "template", store=store)
out = {}
for tag, model in (("trained", "/work/probe/s2/lr1e3/final"), ("untrained", None)):
    for cal in ("batch", "none"):
        reader = build_reasoner(
            "llm",
            tasks.catalog,
            model=model,
            domain=tasks.domain,
            options={"shifts": 1, "calibrate": cal},
        )
        calls: list[int] = []
        orig = reader.answer_batch

        def counted(inputs, orig=orig, calls=calls):
            calls.append(len(inputs))
            return orig(inputs)

        reader.answer_batch = counted
        res = evaluate_row(f"{tag}/{cal}", episodes, rows, reader, store=store)
        assert not calls, f"{tag}: {sum(calls)} answers were not cached"
        out[(tag, cal)] = res
        print(
            tag,
            cal,
            res.metrics["recall@1"].value,
            res.extras["first_position_share"],
            res.extras["positions"]["shares"],
        )
for cal in ("batch", "none"):
    a = [o.hit for o in out[("trained", cal)].outcomes]
    b = [o.hit for o in out[("untrained", cal)].outcomes]
    c = paired_comparison(a, b, n_boot=1000, seed=0).to_json()
    print(cal, json.dumps({k: c[k] for k in ("n", "diff", "p_value", "verdict")}))
