"""``vtk demo``: the main job with embedded defaults and no external data.

Synthetic streaming logs, the embedded SmolLM2-135M, the quick experiment end to end
(baselines, zero-shot, trained verbalizers, trained reasoner), the report written and a
short summary printed. Sized to finish in well under 30 minutes on a 2-core CPU.
"""

from __future__ import annotations

from pathlib import Path

import click

PRESET = Path(__file__).resolve().parents[1] / "presets" / "synthetic_quick.yaml"


@click.command("demo")
@click.option("--out", "out_dir", default="runs/demo", type=click.Path(file_okay=False))
@click.option("--quiet", is_flag=True)
@click.argument("overrides", nargs=-1, metavar="[KEY=VALUE]...")
def command(out_dir: str, quiet: bool, overrides: tuple) -> None:
    """Run the quick synthetic experiment (KEY=VALUE overrides) and print its summary."""
    import time

    from toolkit.cli.experiment import load, run

    config = load(PRESET, list(overrides))
    click.echo(f"vtk demo: {len(config.rows)} configurations on synthetic logs -> {out_dir}")
    start = time.time()
    results = run(config, PRESET, Path(out_dir), quiet)
    for line in results["summary"]:
        click.echo(line)
    click.echo(f"demo finished in {(time.time() - start) / 60:.1f} min")
    click.echo(f"library log: {Path(out_dir) / 'vtk.log'}")
