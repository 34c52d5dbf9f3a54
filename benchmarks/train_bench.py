"""What a training step costs: the old path against the new one, side by side in one run.

    python benchmarks/train_bench.py [--base-tree DIR] [--sections step,stage2,memory,generation]
    python benchmarks/train_bench.py --sections curves --steps 20     # the learning check

Every measurement runs in its own process (a clean peak-RSS reading, and the old code can
run from another checkout): ``--base-tree`` is a checkout of the commit before the speed
work (``git worktree add /tmp/vtk-base a320d9e``); without it the old rows are skipped. All
on the embedded SmolLM2-135M, synthetic logs cut to the last 10 interactions, LoRA r=8 on
the attention projections, the embedding oracle, seed 0. The machine's load average is
printed with every row: a timing measured beside other jobs says so.

Sections:
- ``step``: Stage 1 seconds per step (the second step; the first carries one-time costs
  and is shown apart) for action plans (8 prompts x G=8) and rewrites (4 prompts x G=4):
  old code, new code with ``shared_prompt: false``, new code. The efficiency ratio divides
  the step by one forward + backward over the unique tokens only (each distinct prompt
  once plus every completion, as separate rows). Targets: new >= 3x faster than old at
  G=8; ratio <= 1.5.
- ``stage2``: Stage 2 questions per second, GRPO-sampled (G=8) vs ``objective: exact``.
  Target: exact >= 6x.
- ``memory``: peak RSS of one Stage 1 loss + backward at full.yaml sizes (16 completions
  of 1024 tokens over 2 prompts of ~450, vocabulary 49k, activation checkpointing on).
  Target <= 8 GB.
- ``generation``: histories verbalized per second, n=8 samples, with and without the
  shared-prompt prefill.
- ``curves``: reward per step of a ``--steps``-step Stage 1 run, old code vs new.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = Path(tempfile.gettempdir()) / "vtk-train-bench"


# ---------------------------------------------------------------------- workers


def tasks_dir() -> Path:
    """Synthetic rerank tasks, last 10 interactions (prepared once, shared by workers)."""
    from toolkit.sources import read_source
    from toolkit.tasks import TaskConfig, prepare_tasks

    out = WORK / "tasks-h10"
    if not (out / "meta.json").exists():
        dataset = read_source("synthetic", None, n_users=400, history_length=[10, 16])
        config = TaskConfig(max_history=10, min_history=10, train_per_user=2)
        prepare_tasks(dataset, out, config)
    return out


def stage1_config(a: dict[str, Any], out: Path, old: bool) -> Any:
    from trainers.config import VerbalizerTrainConfig

    grpo = {
        "device": "cpu",
        "num_generations": a["g"],
        "batch_size": a["g"] * a["prompts"],
        "rollout_batch_size": a["g"] * a["prompts"],
        "max_steps": a["steps"],
        "max_completion_length": a["max_completion"],
        "save_steps": 10_000,
        "learning_rate": a["lr"],
        "beta": 0.0,
        "seed": 0,
    }
    if not old:
        grpo["shared_prompt"] = a["shared"]
    return VerbalizerTrainConfig(
        model={"path": "embedded", "lora": {"r": 8, "alpha": 16}},
        data={"tasks": str(tasks_dir()), "limit": a["prompts"] * a["steps"]},
        verbalizer={"name": a["verbalizer"]},
        oracle={"name": "embedding"},
        rewards={"kind": "accuracy", "alpha": 0.9, "length": True},
        grpo=grpo,
        logprobs="masked",
        output_dir=out,
    )


def unique_token_seconds(model: Any, batch: dict[str, Any]) -> tuple[float, int]:
    """One forward + backward over each distinct prompt once (no LM head: a prompt only
    feeds the cache) plus every completion with the LM head at each of its positions, each
    as a row of its own (no padding work), random ids of the same lengths: the work a step
    cannot avoid. Rows alone run below the batched step's per-token throughput on a CPU,
    so this denominator is a floor, not a fair batched cost."""
    import torch

    prompts = {
        tuple(ids[m.bool()].tolist())
        for ids, m in zip(batch["prompt_ids"], batch["prompt_mask"], strict=True)
    }
    prompt_lengths = [len(p) for p in prompts]
    completion_lengths = [int(n) for n in batch["completion_mask"].sum(1).tolist()]
    vocab = model.config.get_text_config().vocab_size
    model.train()
    start = time.perf_counter()
    for n, keep in [(n, 1) for n in prompt_lengths] + [(n, 0) for n in completion_lengths]:
        ids = torch.randint(0, vocab, (1, n))
        # logits_to_keep=0 keeps every position; 1 keeps the last (the head's minimum)
        model(input_ids=ids, logits_to_keep=keep).logits.float().logsumexp(-1).sum().backward()
    model.zero_grad()
    return time.perf_counter() - start, int(sum(prompt_lengths) + sum(completion_lengths))


def worker_stage1(a: dict[str, Any]) -> dict[str, Any]:
    from trainers.grpo import VtkGRPOTrainer
    from trainers.logging import read_metrics
    from trainers.stage1 import train_verbalizer

    old = a["tree"] != str(ROOT)
    kept: dict[str, Any] = {}
    original = VtkGRPOTrainer._compute_loss

    def keep(self: Any, model: Any, inputs: dict[str, Any]) -> Any:
        kept["inputs"], kept["model"] = inputs, model
        return original(self, model, inputs)

    VtkGRPOTrainer._compute_loss = keep  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as tmp:
        config = stage1_config(a, Path(tmp) / "run", old)
        result = train_verbalizer(config, progress=False)
        rows = [r for r in read_metrics(result.metrics_path) if "time/step" in r]
    out: dict[str, Any] = {
        "steps": [r["time/step"] for r in rows],
        "generation": [r.get("time/generation", 0.0) for r in rows],
        "reward": [r.get("reward") for r in rows],
        "completion_len": [r.get("completions/mean_length") for r in rows],
    }
    if a.get("unique") and "inputs" in kept:
        seconds, tokens = unique_token_seconds(kept["model"], kept["inputs"])
        out["unique_seconds"], out["unique_tokens"] = seconds, tokens
    return out


def worker_stage2(a: dict[str, Any]) -> dict[str, Any]:
    from trainers.config import ReasonerTrainConfig
    from trainers.logging import read_metrics
    from trainers.stage2 import train_reasoner

    exact = a["objective"] == "exact"
    questions = a["questions"]
    grpo = {
        "device": "cpu",
        "num_generations": a["g"],
        "batch_size": questions if exact else questions * a["g"],
        "rollout_batch_size": questions * a["g"],
        "max_steps": a["steps"],
        "max_completion_length": 2,
        "save_steps": 10_000,
        "learning_rate": 2e-5,
        "beta": 0.0,
    }
    old = a["tree"] != str(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        config = ReasonerTrainConfig(
            model={"path": "embedded", "lora": {"r": 8, "alpha": 16}},
            data={"tasks": str(tasks_dir()), "limit": questions * a["steps"]},
            grpo=grpo,
            # the old code knows sampled GRPO only
            **({} if old else {"objective": a["objective"]}),
            output_dir=Path(tmp) / "run",
        )
        start = time.perf_counter()
        result = train_reasoner(config, progress=False)
        total = time.perf_counter() - start
        rows = [r for r in read_metrics(result.metrics_path) if "step" in r and "loss" in r]
    steps = [r["time/step"] for r in rows if "time/step" in r]
    return {"steps": steps, "total": total, "questions_per_step": questions}


def worker_memory(a: dict[str, Any]) -> dict[str, Any]:
    """One Stage 1 loss + backward at full sizes, on rows shaped as TRL builds them."""
    import torch
    from peft import LoraConfig, get_peft_model

    from toolkit.backends.bitmask import full
    from toolkit.models import load_model
    from trainers.masked_logprobs import token_logprobs
    from trainers.shared_prompt import completion_hidden, decoder_and_head

    # a cap below this machine's memory: over it, the worker fails instead of the machine
    cap = int(a["cap_gb"] * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    model, tok = load_model("embedded")
    model = get_peft_model(
        model,
        LoraConfig(r=16, lora_alpha=32, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]),
    )
    model.train()
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    vocab = model.config.vocab_size
    gen = torch.Generator().manual_seed(0)
    b, r, p = a["rows"], a["completion"], a["prompt"]
    prompts = [torch.randint(0, vocab, (p - 7 * k,), generator=gen) for k in range(2)]
    width = max(len(x) for x in prompts)
    ids, mask = [], []
    for i in range(b):
        pr = prompts[i % 2]
        n = r - (i * 37) % 200  # ragged completions
        comp = torch.randint(0, vocab, (n,), generator=gen)
        pad_l, pad_r = width - len(pr), r - n
        ids.append(
            torch.cat(
                [
                    torch.full((pad_l,), tok.pad_token_id),
                    pr,
                    comp,
                    torch.full((pad_r,), tok.pad_token_id),
                ]
            )
        )
        mask.append(torch.cat([torch.zeros(pad_l), torch.ones(len(pr) + n), torch.zeros(pad_r)]))
    ids, mask = torch.stack(ids), torch.stack(mask).long()
    support = full((b, r), vocab)  # as many words as the sampler's
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    _, head = decoder_and_head(model)
    hidden = completion_hidden(model, ids, mask, r, shared=a["shared"])
    out = token_logprobs(
        hidden,
        head,
        ids[:, -r:],
        mask[:, -r:].bool(),
        support=support,
        chunk_tokens=a["chunk"],
        entropy=True,
    )
    out["logps"].sum().backward()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "peak_gb": peak / 2**20,
        "before_gb": base / 2**20,
        "seconds": seconds,
        "tokens": int(mask.sum()),
    }


def worker_generation(a: dict[str, Any]) -> dict[str, Any]:
    from toolkit.backends.base import SamplingParams
    from toolkit.backends.transformers_backend import TransformersGenerator
    from toolkit.models import load_model
    from toolkit.tasks import TaskSet
    from trainers.config import PolicySettings
    from trainers.stage1 import policy_verbalizer

    model, tok = load_model("embedded")
    tasks = TaskSet.load(tasks_dir())
    policy = policy_verbalizer(PolicySettings(name="actions"), tok, tasks.domain)
    examples = tasks.split("train")[: a["histories"] * (a["repeat"] + 1)]
    prompts = [policy.prompt(e.history, tasks.catalog) for e in examples]
    constraints = [policy.constraint(e.history, tasks.catalog) for e in examples]
    gen = TransformersGenerator(
        model, tok, batch_size=a["n"] * a["histories"], shared_prefill=a["shared"]
    )
    times = []
    for k in range(a["repeat"] + 1):  # the first call warms up and is left out
        sl = slice(k * a["histories"], (k + 1) * a["histories"])
        start = time.perf_counter()
        gen.generate(prompts[sl], constraints[sl], n=a["n"], params=SamplingParams(seed=k))
        times.append(time.perf_counter() - start)
    return {"seconds": times[1:], "histories": a["histories"]}


WORKERS = {
    "stage1": worker_stage1,
    "stage2": worker_stage2,
    "memory": worker_memory,
    "generation": worker_generation,
}


# ---------------------------------------------------------------------- driver


def run_worker(name: str, tree: Path, **a: Any) -> dict[str, Any]:
    """``name`` in a fresh process with ``tree``'s code first on the path."""
    a["tree"] = str(tree)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    load = os.getloadavg()[0]
    with tempfile.NamedTemporaryFile("r", suffix=".json") as fh:
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            name,
            "--args",
            json.dumps(a),
            "--result",
            fh.name,
        ]
        log = WORK / f"{name}-{int(time.time())}-{os.getpid()}.log"
        with log.open("w") as out:
            code = subprocess.call(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tree)
        if code != 0:
            print(f"  {name} failed (exit {code}); log: {log}")
            return {}
        result = json.load(fh)
    result["load"] = (load + os.getloadavg()[0]) / 2
    return result


def fmt(x: float | None, spec: str = ".1f") -> str:
    return "-" if x is None else format(x, spec)


def section_step(args: argparse.Namespace, trees: dict[str, Path]) -> list[str]:
    lines = [
        "### Stage 1 step time (embedded SmolLM2-135M, synthetic, history 10)",
        "",
        "| verbalizer | prompts x G | code | step 1 s | step 2 s | generation s (step 2) "
        "| unique-token fwd+bwd s | efficiency | speed-up vs old | load |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    # verbalizer:prompts:G:completion budget[:ablation] (ablation: also the new code unshared)
    shapes = []
    for spec in args.step_shapes.split(","):
        name, prompts, g, budget, *rest = spec.split(":")
        shapes.append((name, int(prompts), int(g), int(budget), bool(rest)))
    for verbalizer, prompts, g, max_completion, ablation in shapes:
        base = dict(
            verbalizer=verbalizer,
            prompts=prompts,
            g=g,
            steps=2,
            lr=2e-5,
            max_completion=max_completion,
        )
        variants = [("old", trees.get("old"), False), ("new", trees["new"], True)]
        if ablation:
            variants.insert(1, ("new, shared off", trees["new"], False))
        runs = {}
        for label, tree, shared in variants:
            if tree is None:
                continue
            runs[label] = run_worker("stage1", tree, shared=shared, unique=label == "new", **base)
        unique = runs.get("new", {}).get("unique_seconds")
        old_step = (runs.get("old", {}).get("steps") or [None, None])[-1]
        for label, r in runs.items():
            steps = r.get("steps") or [None, None]
            step = steps[-1]
            eff = step / unique if step and unique else None
            speed = old_step / step if step and old_step else None
            lines.append(
                f"| {verbalizer} | {prompts} x {g} | {label} | {fmt(steps[0])} | {fmt(step)} "
                f"| {fmt((r.get('generation') or [None])[-1])} | {fmt(unique)} "
                f"| {fmt(eff, '.2f')} | {fmt(speed, '.2f')}x | {fmt(r.get('load'))} |"
            )
            print(lines[-1], flush=True)
    return lines


def section_stage2(args: argparse.Namespace, trees: dict[str, Path]) -> list[str]:
    lines = [
        "### Stage 2 questions per second (template contexts, history 10)",
        "",
        "| objective | questions/step | s/step (after the first) | questions/s | ratio | load |",
        "|---|---|---|---|---|---|",
    ]
    res = {}
    if trees.get("old") is not None:
        res["old code, grpo (G=8)"] = run_worker(
            "stage2", trees["old"], objective="grpo", g=8, questions=4, steps=3
        )
    res["grpo (G=8)"] = run_worker(
        "stage2", trees["new"], objective="grpo", g=8, questions=4, steps=3
    )
    res["exact"] = run_worker("stage2", trees["new"], objective="exact", g=8, questions=8, steps=3)
    reference = next(iter(res))
    rate = {}
    for label, r in res.items():
        steps = r.get("steps") or []
        mean = statistics.fmean(steps[1:]) if len(steps) > 1 else None
        rate[label] = r["questions_per_step"] / mean if mean else None
    for label, r in res.items():
        steps = r.get("steps") or []
        mean = statistics.fmean(steps[1:]) if len(steps) > 1 else None
        base = rate.get(reference)
        ratio = rate[label] / base if rate[label] and base else None
        lines.append(
            f"| {label} | {r.get('questions_per_step')} | {fmt(mean, '.2f')} "
            f"| {fmt(rate[label], '.2f')} | {fmt(ratio, '.1f')}x | {fmt(r.get('load'))} |"
        )
        print(lines[-1], flush=True)
    return lines


def section_memory(args: argparse.Namespace, trees: dict[str, Path]) -> list[str]:
    lines = [
        "### Peak memory of one Stage 1 loss + backward at full.yaml sizes",
        "",
        "| forward | rows x completion | tokens | peak RSS GB | seconds | load |",
        "|---|---|---|---|---|---|",
    ]
    for label, shared in (("shared prompt", True), ("plain", False)):
        r = run_worker(
            "memory",
            trees["new"],
            rows=16,
            completion=1024,
            prompt=450,
            chunk=1024,
            shared=shared,
            cap_gb=args.memory_cap_gb,
        )
        lines.append(
            f"| {label} | 16 x 1024 | {r.get('tokens', '-')} "
            f"| {fmt(r.get('peak_gb'), '.2f')} | {fmt(r.get('seconds'))} "
            f"| {fmt(r.get('load'))} |"
        )
        print(lines[-1], flush=True)
    return lines


def section_generation(args: argparse.Namespace, trees: dict[str, Path]) -> list[str]:
    lines = [
        "### Generation: action plans, 4 histories x n=8 samples",
        "",
        "| prefill | s per call | histories/s | speed-up | load |",
        "|---|---|---|---|---|",
    ]
    res = {
        label: run_worker("generation", trees["new"], histories=4, n=8, repeat=2, shared=shared)
        for label, shared in (("per sample", False), ("shared", True))
    }
    base = None
    for label, r in res.items():
        mean = statistics.fmean(r["seconds"]) if r.get("seconds") else None
        rate = r["histories"] / mean if mean else None
        base = base or rate
        speed = rate / base if rate and base else None
        lines.append(
            f"| {label} | {fmt(mean, '.2f')} | {fmt(rate, '.3f')} "
            f"| {fmt(speed, '.2f')}x | {fmt(r.get('load'))} |"
        )
        print(lines[-1], flush=True)
    return lines


def section_curves(args: argparse.Namespace, trees: dict[str, Path]) -> list[str]:
    lines = [f"### Stage 1 reward per step, {args.steps} steps (actions, 2 prompts x G=4)", ""]
    curves = {}
    for label in args.curves.split(","):
        tree = trees.get(label)
        if tree is None:
            continue
        curves[label] = run_worker(
            "stage1",
            tree,
            verbalizer="actions",
            prompts=2,
            g=4,
            steps=args.steps,
            lr=1e-4,
            max_completion=96,
            shared=True,
        ).get("reward", [])
    lines.append("| step | " + " | ".join(curves) + " |")
    lines.append("|---|" + "---|" * len(curves))
    for k in range(args.steps):
        cells = [fmt(c[k], ".3f") if k < len(c) else "-" for c in curves.values()]
        lines.append(f"| {k + 1} | " + " | ".join(cells) + " |")
    for label, c in curves.items():
        done = [x for x in c if x is not None]
        if done:
            half = done[len(done) // 2 :]
            lines.append(
                f"\n{label}: mean reward {statistics.fmean(done):.3f}, "
                f"last half {statistics.fmean(half):.3f}"
            )
    print("\n".join(lines), flush=True)
    return lines


SECTIONS = {
    "step": section_step,
    "stage2": section_stage2,
    "memory": section_memory,
    "generation": section_generation,
    "curves": section_curves,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sections", default="step,stage2,memory,generation")
    parser.add_argument("--base-tree", type=Path, help="checkout of the old code")
    parser.add_argument("--steps", type=int, default=20, help="steps of the curves section")
    parser.add_argument("--curves", default="old,new", help="which code the curves run")
    parser.add_argument(
        "--step-shapes",
        default="actions:8:8:96,rewrite:4:4:1024:ablation",
        help="Stage 1 shapes of the step section: verbalizer:prompts:G:budget[:ablation]",
    )
    parser.add_argument("--out", type=Path, help="also write the tables (Markdown) here")
    parser.add_argument(
        "--memory-cap-gb", type=float, default=12.0, help="address-space cap of the memory worker"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--args", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    if args.worker:
        sys.path.insert(0, json.loads(args.args)["tree"])
        result = WORKERS[args.worker](json.loads(args.args))
        Path(args.result).write_text(json.dumps(result))
        return 0
    trees = {"new": ROOT}
    if args.base_tree:
        trees["old"] = args.base_tree.resolve()
    print(
        f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
        f"old code: {trees.get('old', 'not given')}",
        flush=True,
    )
    tasks_dir()
    lines = []
    for name in args.sections.split(","):
        lines += [*SECTIONS[name](args, trees), ""]
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
