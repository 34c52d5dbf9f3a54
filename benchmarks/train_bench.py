"""GRPO step cost, split into generation, reward, log-probs (masked vs unmasked), optimizer.

    python benchmarks/train_bench.py [--model embedded] [--steps 6] [--threads 1] [--data DIR]

Stage 1 with the ``actions`` verbalizer (an action plan per interaction under the
``action_plan`` grammar) on ML-100K rerank tasks cut to ``--history`` interactions, the
embedding oracle, LoRA on the attention projections, beta 0.04 (so a reference forward
too). One run whose steps alternate ``masked`` and ``unmasked`` log-probs, so both modes
share the model, the data stream and the load of this shared machine; each mode's first
step (grammar compiles, warm-up) is left out of its means. Then the last micro-batch is
scored three ways, forward + backward, interleaved, best of ``--repeat``: masked log-probs
(grammar replay + masked log-softmax), unmasked (same forward, full log-softmax) and TRL's
stock fused full-vocabulary head. Target: a masked step costs at most 1.25x an unmasked
one. Needs ML-100K (``$VTK_SHARED_DATA`` or ``../shared/data``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PHASES = ("generation", "reward", "logprob_masks", "logprob", "backward", "optimizer", "step")


def data_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    return Path(os.environ.get("VTK_SHARED_DATA", ROOT.parent / "shared" / "data"))


def prepare(data: Path, out: Path, history: int) -> Any:
    from toolkit.sources import read_source
    from toolkit.tasks import TaskConfig, TaskSet, prepare_tasks

    dataset = read_source("movielens-100k", data / "ml-100k")
    prepare_tasks(dataset, out, TaskConfig(max_history=history, min_history=history))
    return TaskSet.load(out, splits=("train",))


class Alternate:
    """A callback that switches the log-prob mode at every step, so both modes run on the
    same model, data stream and machine load (the machine is shared); it also keeps the
    last micro-batch a loss was computed on."""

    inputs: dict[str, Any] | None = None

    @staticmethod
    def install() -> None:
        from trainers.grpo import VtkGRPOTrainer

        original = VtkGRPOTrainer._compute_loss

        def _compute_loss(self: Any, model: Any, inputs: dict[str, Any]) -> Any:
            Alternate.inputs = inputs
            return original(self, model, inputs)

        VtkGRPOTrainer._compute_loss = _compute_loss  # type: ignore[method-assign]

    @staticmethod
    def callback(trainer_ref: list[Any], modes: list[str]) -> Any:
        from transformers import TrainerCallback

        class Switch(TrainerCallback):
            def on_step_begin(self, args: Any, state: Any, control: Any, **_: Any) -> None:
                mode = MODES[state.global_step % 2]
                modes.append(mode)
                if trainer_ref:
                    trainer_ref[0].logprob_mode = mode
                    trainer_ref[0].rollout_func.logprobs = mode

        return Switch()


MODES = ("masked", "unmasked")


def train(args: argparse.Namespace, tasks: Any, work: Path) -> tuple[Any, list[dict], list[str]]:
    """One run whose steps alternate masked / unmasked log-probs."""
    from trainers import run as run_module
    from trainers.config import VerbalizerTrainConfig
    from trainers.logging import read_metrics
    from trainers.stage1 import train_verbalizer

    config = VerbalizerTrainConfig(
        model={"path": args.model},
        data={"tasks": str(work / "tasks"), "limit": args.prompts * (args.steps + 1)},
        verbalizer={"name": "actions"},
        oracle={"name": "embedding"},
        grpo={
            "device": "cpu",
            "num_generations": args.generations,
            "batch_size": args.generations * args.prompts,
            "rollout_batch_size": args.generations * args.prompts,
            "max_steps": args.steps,
            "max_completion_length": args.max_completion,
            "save_steps": 10_000,
            "learning_rate": 1e-5,
            "beta": 0.04,
            "seed": 0,
        },
        logprobs="masked",
        output_dir=work / "run",
    )
    trainer_ref: list[Any] = []
    modes: list[str] = []
    build = run_module.build_trainer

    def build_and_keep(*a: Any, **kw: Any) -> Any:
        trainer = build(*a, **kw)
        trainer_ref.append(trainer)
        return trainer

    run_module.build_trainer = build_and_keep  # type: ignore[assignment]
    try:
        result = train_verbalizer(
            config,
            tasks=tasks,
            progress=False,
            overwrite=True,
            callbacks=[Alternate.callback(trainer_ref, modes)],
        )
    finally:
        run_module.build_trainer = build
    rows = [r for r in read_metrics(result.metrics_path) if "time/step" in r]
    return result.trainer, rows, modes


def phase_means(rows: list[dict], modes: list[str]) -> dict[str, dict[str, float]]:
    """Mean seconds per phase and mode, leaving out each mode's first (warm-up) step."""
    out = {}
    for mode in MODES:
        timed = [r for r, m in zip(rows, modes, strict=False) if m == mode][1:]
        out[mode] = {
            p: statistics.fmean(r.get(f"time/{p}", 0.0) for r in timed) if timed else float("nan")
            for p in PHASES
        }
    return out


def score_batch(trainer: Any, inputs: dict[str, Any], how: str) -> float:
    """Seconds for one log-prob forward + backward over the recorded micro-batch."""
    import torch
    from trl import GRPOTrainer

    from trainers.grpo import ROW_CONSTRAINTS_KEY

    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], 1)
    mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], 1)
    keep = inputs["completion_ids"].size(1)
    trainer.model.zero_grad()
    start = time.perf_counter()
    if how == "trl-fused":
        logps, _, _ = GRPOTrainer._get_per_token_logps_and_entropies(
            trainer, trainer.model, ids, mask, keep
        )
    else:
        trainer.logprob_mode = how
        trainer._allowed = None
        if how == "masked":  # the grammar replay is part of the cost
            trainer._allowed = trainer.allowed_masks(
                inputs[ROW_CONSTRAINTS_KEY], inputs["completion_ids"].tolist()
            )
        logps, _, _ = trainer._token_logps(trainer.model, ids, mask, keep, None, False)
    (logps * inputs["completion_mask"]).sum().backward()
    seconds = time.perf_counter() - start
    trainer.model.zero_grad()
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="Folder holding ml-100k/")
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--steps", type=int, default=6, help="Steps, alternating modes.")
    parser.add_argument("--prompts", type=int, default=2, help="Prompts per step.")
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--history", type=int, default=10)
    parser.add_argument("--max-completion", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    data = data_dir(args.data)
    if not (data / "ml-100k").is_dir():
        print(f"skipped: ML-100K not found under {data}")
        return 0
    Alternate.install()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tasks = prepare(data, work / "tasks", args.history)
        print(
            f"model={args.model} steps={args.steps} (alternating masked/unmasked) "
            f"prompts/step={args.prompts} G={args.generations} history={args.history} "
            f"max_completion={args.max_completion} threads={torch.get_num_threads()}"
        )
        trainer, rows, modes = train(args, tasks, work)
        per_row = rows[0]["num_tokens"] / (args.prompts * args.generations)
        completion = statistics.fmean(r["completions/mean_length"] for r in rows)
        print(f"tokens per row: ~{per_row:.0f} (prompt + completion), {completion:.1f} completion")
        means = phase_means(rows, modes)
        print("\nseconds per step (mean over each mode's steps after its first)")
        print(f"{'phase':<15}" + "".join(f"{m:>12}" for m in MODES))
        for phase in PHASES:
            print(f"{phase:<15}" + "".join(f"{means[m][phase]:>12.3f}" for m in MODES))
        ratio = means["masked"]["step"] / means["unmasked"]["step"]
        print(f"\nmasked / unmasked step: {ratio:.3f}x (target <= 1.25x)")

        inputs = Alternate.inputs
        if trainer is not None and inputs is not None:
            n_rows = inputs["completion_ids"].shape[0]
            print(f"\none micro-batch ({n_rows} rows), log-probs fwd + bwd, best of {args.repeat}")
            cost = {how: float("inf") for how in ("masked", "unmasked", "trl-fused")}
            for _ in range(args.repeat):  # interleaved, so load changes hit all three
                for how in cost:
                    cost[how] = min(cost[how], score_batch(trainer, inputs, how))
            for how, seconds in cost.items():
                print(f"  {how:<10} {seconds:8.3f} s")
            print(f"  masked / unmasked: {cost['masked'] / cost['unmasked']:.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
