"""``vtk experiment``: run a named set of configurations and write the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


def check_data(config: Any, where: str) -> None:
    """Validate ``data.options`` (the source's options) and ``data.tasks`` (TaskConfig
    fields) before anything runs, so a typo fails in a second instead of after the data
    has been read; errors name ``where`` (the config file or the overrides) and the field."""
    from pydantic import ValidationError

    from toolkit.errors import ConfigError, validation_lines
    from toolkit.sources import get_source
    from toolkit.tasks import TaskConfig

    get_source(config.data.source).check_options(
        config.data.options, where=f"{where}: field data.options:"
    )
    try:
        TaskConfig.model_validate({"seed": config.seed, **config.data.tasks})
    except ValidationError as exc:
        lines = validation_lines(exc, prefix=f"{where}: data.tasks ")
        raise ConfigError("invalid data.tasks:\n" + "\n".join(lines)) from None


def load(config_path: Path, overrides: list[str]) -> Any:
    """The experiment config, validated down to its source and task options."""
    from toolkit.config import load_config
    from toolkit.experiment import ExperimentConfig

    config = load_config(ExperimentConfig, config_path, overrides)
    check_data(config, str(config_path) + (" + overrides" if overrides else ""))
    return config


def run(config: Any, config_path: Path, out: Path | None, quiet: bool) -> dict:
    """Run one experiment; its library log goes to ``out/vtk.log``."""
    from toolkit.experiment import run_experiment
    from toolkit.logs import run_log

    out = out or Path("runs") / config.name
    with run_log(out):
        return run_experiment(config, out, config_path=str(config_path), progress=not quiet)


@click.command("experiment")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option("--data", "data_path", default=None, help="Data path (overrides data.path).")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False))
@click.option("--quiet", is_flag=True, help="No progress output.")
@click.argument("overrides", nargs=-1, metavar="[KEY=VALUE]...")
def command(
    config_path: str, data_path: str | None, out_dir: str | None, quiet: bool, overrides: tuple
) -> None:
    """Run the experiment in CONFIG (YAML) and write report.md/json/png.

    KEY=VALUE arguments override config fields by dotted path, as in ``vtk train``
    (``data.source=movielens-latest data.path=../shared/data/ml-latest eval.limit=100``).
    """
    extra = list(overrides) + ([f"data.path={data_path}"] if data_path else [])
    config = load(Path(config_path), extra)
    results = run(config, Path(config_path), Path(out_dir) if out_dir else None, quiet)
    for line in results["summary"]:
        click.echo(line)
