"""``vtk demo``: the main job with embedded defaults and no external data.

Synthetic streaming logs and the embedded SmolLM2-135M. The default preset shows the claim
in about half an hour on a 2-core CPU: an action verbalizer trained by RL alone against
its untrained start, the template, rules and non-LLM baselines, judged by a held-out
reader. ``--full`` adds the heuristic warm start and Stage 2 (trained reasoners), for
several hours.
"""

from __future__ import annotations

from pathlib import Path

import click

PRESETS = Path(__file__).resolve().parents[1] / "presets"
PRESET = PRESETS / "synthetic_demo.yaml"
FULL_PRESET = PRESETS / "synthetic_demo_full.yaml"


@click.command("demo")
@click.option(
    "--out",
    "out_dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Output folder (default runs/demo, or runs/demo-full with --full).",
)
@click.option("--full", is_flag=True, help="Add the warm start and Stage 2 rows (hours).")
@click.option("--quiet", is_flag=True)
@click.argument("overrides", nargs=-1, metavar="[KEY=VALUE]...")
def command(out_dir: str | None, full: bool, quiet: bool, overrides: tuple) -> None:
    """Run the synthetic demo experiment (KEY=VALUE overrides) and print its summary."""
    import time

    from toolkit.cli.experiment import load, run

    preset = FULL_PRESET if full else PRESET
    out = Path(out_dir or ("runs/demo-full" if full else "runs/demo"))
    config = load(preset, list(overrides))
    click.echo(f"vtk demo: {len(config.rows)} configurations on synthetic logs -> {out}")
    start = time.time()
    results = run(config, preset, out, quiet)
    for line in results["summary"]:
        click.echo(line)
    minutes, seconds = divmod(round(time.time() - start), 60)
    click.echo(f"demo finished in {minutes} min {seconds:02d} s (wall time)")
    click.echo(f"library log: {out / 'vtk.log'}")
