"""``vtk train verbalizer|reasoner|pipeline --config FILE [KEY=VALUE ...]``: GRPO training.

The config is a YAML file validated by ``trainers.config`` (every problem reported at once);
``KEY=VALUE`` arguments override fields by dotted path (``grpo.max_steps=20``). Metrics go
to ``OUT/metrics.jsonl`` (and TensorBoard when installed), the libraries' log to
``OUT/vtk.log``, checkpoints to
``OUT/checkpoints``, the final adapter to ``OUT/final``, loadable by path wherever vtk
takes a model (``toolkit.models.load_model``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def _options(func: Callable[..., Any]) -> Callable[..., Any]:
    decorators = [
        click.option(
            "--config",
            "config_path",
            type=click.Path(path_type=Path),
            required=True,
            help="YAML config (see examples/synthetic/).",
        ),
        click.argument("overrides", nargs=-1, metavar="[KEY=VALUE]..."),
        click.option("--out", type=click.Path(path_type=Path), help="Output folder."),
        click.option("--resume", is_flag=True, help="Continue from the last checkpoint."),
        click.option("--overwrite", is_flag=True, help="Discard a previous run in the folder."),
        click.option("--warm-start", help="Run this warm start on the policy before GRPO."),
        click.option("--quiet", is_flag=True, help="No per-step progress lines."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def _load(stage: str, path: Path, overrides: tuple[str, ...], out: Path | None) -> Any:
    from toolkit.config import load_config
    from trainers.config import STAGE_CONFIGS

    extra = [f"output_dir={out}"] if out is not None else []
    return load_config(STAGE_CONFIGS[stage], path, [*overrides, *extra])


def _report(stage: str, result: Any) -> None:
    if result is None:
        click.echo(f"{stage}: already trained, skipped")
        return
    click.echo(f"{stage}: {result.global_step} steps; final model: {result.final_dir}")
    click.echo(f"{stage}: metrics: {result.metrics_path}")


@click.group("train")
def command() -> None:
    """Train the verbalizer (Stage 1), the reasoner (Stage 2) or both with GRPO."""


def _train_stage(stage: str, train: Any, options: dict[str, Any]) -> None:
    """Load one stage's config, apply ``--warm-start``, train, report."""
    config = _load(stage, options["config_path"], options["overrides"], options["out"])
    if options["warm_start"]:
        config = config.model_copy(update={"warm_start": options["warm_start"]})
    from toolkit.logs import run_log

    with run_log(config.output_dir):
        result = train(
            config,
            resume=options["resume"],
            overwrite=options["overwrite"],
            progress=not options["quiet"],
        )
    _report(stage, result)


@command.command("verbalizer")
@_options
def verbalizer(**options: Any) -> None:
    """Stage 1: the verbalizer against a fixed oracle reasoner."""
    from trainers.stage1 import train_verbalizer

    _train_stage("verbalizer", train_verbalizer, options)


@command.command("reasoner")
@_options
def reasoner(**options: Any) -> None:
    """Stage 2: the reasoner on a frozen verbalizer's text (or the raw template)."""
    from trainers.stage2 import train_reasoner

    _train_stage("reasoner", train_reasoner, options)


@command.command("pipeline")
@_options
def pipeline(config_path, overrides, out, resume, overwrite, warm_start, quiet) -> None:
    """Stage 1 then Stage 2 on the trained verbalizer's text."""
    from trainers.pipeline import train_pipeline

    config = _load("pipeline", config_path, overrides, out)
    if warm_start:
        stage1 = config.verbalizer.model_copy(update={"warm_start": warm_start})
        config = config.model_copy(update={"verbalizer": stage1})
    from toolkit.logs import run_log

    with run_log(config.output_dir):
        first, second = train_pipeline(
            config, resume=resume, overwrite=overwrite, progress=not quiet
        )
    _report("verbalizer", first)
    _report("reasoner", second)
