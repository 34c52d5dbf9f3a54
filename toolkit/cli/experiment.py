"""``vtk experiment``: run a named set of configurations and write the report."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("experiment")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option("--data", "data_path", default=None, help="Data path (overrides data.path).")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False))
@click.option("--quiet", is_flag=True, help="No progress output.")
@click.argument("overrides", nargs=-1)
def command(
    config_path: str, data_path: str | None, out_dir: str | None, quiet: bool, overrides: tuple
) -> None:
    """Run the experiment in CONFIG (YAML; KEY=VALUE overrides) and write report.md/json/png."""
    from toolkit.config import load_config
    from toolkit.experiment import ExperimentConfig, run_experiment

    extra = list(overrides) + ([f"data.path={data_path}"] if data_path else [])
    config = load_config(ExperimentConfig, config_path, extra)
    out = Path(out_dir or Path("runs") / config.name)
    results = run_experiment(config, out, config_path=config_path, progress=not quiet)
    for line in results["summary"]:
        click.echo(line)
