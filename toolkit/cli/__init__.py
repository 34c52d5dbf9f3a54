"""The ``vtk`` command line. Each module in this package that defines ``command`` (a click
command or group) becomes a subcommand: adding one never means editing this file."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Sequence

import click

from toolkit import __version__
from toolkit.errors import VtkError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vtk")
def cli() -> None:
    """vtk: learned verbalization of interaction logs for LLM recommenders."""


def _register() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        command = getattr(module, "command", None)
        if isinstance(command, click.Command):
            cli.add_command(command)


_register()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 1 validation failures, 2 errors)."""
    try:
        cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except VtkError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        return 2
    except SystemExit as exc:  # commands signal a result by exit code
        return int(exc.code or 0)
    return 0


def entry() -> None:
    sys.exit(main())
