"""Histories verbalized per second: the transformers backend against vLLM, same model
(the embedded SmolLM2-135M, float32), same grammar (the actions verbalizer's
``action_plan`` JSON schema), same n, same histories.

    python benchmarks/scale_bench.py [--histories 8] [--window 8] [--n 1 4] [--no-write]

Each backend runs in its own process and interpreter: transformers in this one, vLLM in
``--vllm-python`` (default ``.venv-vllm/bin/python``, built by ``make vllm``), both with
``--threads`` OpenMP threads. Per backend and n: one untimed warm-up call on the first
two histories, then one timed ``generate`` over all histories (n samples each, seeded
sampling at temperature 1; n=1 is what serving does, n>1 what a GRPO rollout does).
Reported: histories/s, generated tokens/s, valid plans, and the one-off start-up (model
load; for vLLM engine start). The numbers replace the "Scale" section of
``benchmarks/RESULTS.md`` unless ``--no-write``; say what else ran on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "RESULTS.md"


def histories(count: int, window: int) -> tuple[list[Any], Any]:
    from toolkit.sources import read_source
    from toolkit.tasks import TaskConfig, TaskSet, prepare_tasks

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "syn"
        prepare_tasks(read_source("synthetic", None, n_users=count, seed=7), out, TaskConfig())
        tasks = TaskSet.load(out)
    examples = tasks.split("test")[:count]
    return [ex.history.last(window) for ex in examples], tasks.catalog


def make_generator(backend: str) -> Any:
    if backend == "transformers":
        from toolkit.backends.transformers_backend import TransformersGenerator

        return TransformersGenerator.from_pretrained("embedded", batch_size=64)
    from toolkit.backends.vllm import VLLMGenerator

    return VLLMGenerator("embedded", max_model_len=2048, engine_kwargs={"enforce_eager": True})


def run_backend(backend: str, count: int, window: int, ns: list[int]) -> dict[str, Any]:
    """One backend's numbers (runs in that backend's interpreter)."""
    from toolkit.backends.base import SamplingParams
    from toolkit.verbalizers.actions import ActionsVerbalizer

    hist, catalog = histories(count, window)
    start = time.perf_counter()
    gen = make_generator(backend)
    startup = time.perf_counter() - start
    tokenizer = gen.tokenizer
    verbalizer = ActionsVerbalizer(gen, tokenizer=tokenizer)
    prompts = [verbalizer.prompt(h, catalog) for h in hist]
    constraints = [verbalizer.constraint(h, catalog) for h in hist]
    rows = []
    for n in ns:
        params = SamplingParams(temperature=1.0, seed=0)
        gen.generate(prompts[:2], constraints[:2], n=n, params=params)  # warm-up
        t0 = time.perf_counter()
        out = gen.generate(prompts, constraints, n=n, params=params)
        seconds = time.perf_counter() - t0
        tokens = sum(len(c.token_ids) for row in out for c in row)
        valid = sum(
            verbalizer.decode(c.text, h, catalog).valid
            for h, row in zip(hist, out, strict=True)
            for c in row
        )
        rows.append(
            {
                "n": n,
                "seconds": seconds,
                "histories_per_s": len(hist) / seconds,
                "tokens_per_s": tokens / seconds,
                "tokens": tokens,
                "valid": valid,
                "samples": len(hist) * n,
            }
        )
    return {"backend": backend, "startup_s": startup, "rows": rows}


def spawn(backend: str, python: str, args: argparse.Namespace) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(args.threads)}
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    out = Path(args.results) / f"{backend}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [python, __file__, "--worker", backend, "--histories", str(args.histories)]
    cmd += ["--window", str(args.window), "--n", *map(str, args.n), "--results", str(out)]
    log = out.with_suffix(".log")
    with log.open("w") as sink:  # not a pipe: vLLM's engine processes would hold it open
        proc = subprocess.Popen(cmd, env=env, stdout=sink, stderr=sink, start_new_session=True)
        code = proc.wait()
    with contextlib.suppress(ProcessLookupError):  # vLLM engine processes left behind
        os.killpg(proc.pid, signal.SIGKILL)
    if code != 0 or not out.is_file():
        raise SystemExit(f"{backend} worker failed; see {log}:\n{log.read_text()[-3000:]}")
    return json.loads(out.read_text())


def table(results: list[dict[str, Any]], args: argparse.Namespace, note: str) -> str:
    lines = [
        "## Scale: transformers vs vLLM (`benchmarks/scale_bench.py`)",
        "",
        f"SmolLM2-135M float32, actions verbalizer (`action_plan` JSON schema), "
        f"{args.histories} synthetic histories of {args.window} interactions, temperature 1, "
        f"{args.threads} OpenMP threads, {platform.processor() or platform.machine()}. {note}",
        "",
        "| backend | n | histories/s | tokens/s | samples valid | seconds | start-up s |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        for row in result["rows"]:
            lines.append(
                f"| {result['backend']} | {row['n']} | {row['histories_per_s']:.2f} | "
                f"{row['tokens_per_s']:.1f} | {row['valid']}/{row['samples']} | "
                f"{row['seconds']:.1f} | {result['startup_s']:.0f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--histories", type=int, default=8)
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument("--n", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--vllm-python", default=str(ROOT / ".venv-vllm" / "bin" / "python"))
    parser.add_argument("--backends", nargs="+", default=["transformers", "vllm"])
    parser.add_argument("--note", default="", help="What else ran on the machine.")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--results",
        default=str(ROOT / "runs" / "scale_bench"),
        help="Folder for each backend's JSON numbers.",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = run_backend(args.worker, args.histories, args.window, args.n)
        Path(args.results).write_text(json.dumps(result))
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)  # vLLM's engine shutdown hung once under load: the caller kills the group
    pythons = {"transformers": sys.executable, "vllm": args.vllm_python}
    results = [spawn(b, pythons[b], args) for b in args.backends]
    text = table(results, args, args.note)
    print(text)
    if not args.no_write:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from generation_bench import replace_section

        replace_section(RESULTS, "Scale: transformers vs vLLM (`benchmarks/scale_bench.py`)", text)
        print(f"wrote the Scale section of {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
