"""The ``vtk`` command line. Each module in this package that defines ``command`` (a click
command or group) becomes a subcommand: adding one never means editing this file.

Every error ends here, in ``main``: an error the user can cause (``toolkit.errors.
user_message``) is one ``error: ...`` message naming file, line and field where they exist,
exit 2; anything else is reported as an internal error. A traceback is printed only with
``vtk --debug`` or ``VTK_DEBUG=1``.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import traceback
from collections.abc import Sequence

import click

from toolkit import __version__

DEBUG_ENV = "VTK_DEBUG"
_debug = False


def _env_debug() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vtk")
@click.option("--debug", is_flag=True, help=f"Show tracebacks (also: {DEBUG_ENV}=1).")
@click.option(
    "-v", "--verbose", is_flag=True, help="Show library log output (always in the run's vtk.log)."
)
def cli(debug: bool, verbose: bool) -> None:
    """vtk: learned verbalization of interaction logs for LLM recommenders."""
    from toolkit import logs

    global _debug
    _debug = _debug or debug
    logs.configure(verbose=verbose)


def _register() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        command = getattr(module, "command", None)
        if isinstance(command, click.Command):
            cli.add_command(command)


_register()


def _fail(exc: BaseException) -> int:
    """Print the one message for ``exc`` (and, when debugging, its traceback)."""
    from toolkit.errors import user_message

    if _debug:
        traceback.print_exception(exc)
    message = user_message(exc)
    if message is not None:
        click.secho(f"error: {message}", fg="red", err=True)
        return 2
    detail = f"{type(exc).__name__}: {exc}".strip()
    hint = "" if _debug else f" (rerun with --debug or {DEBUG_ENV}=1 for the traceback)"
    click.secho(f"error: internal error, a bug in vtk: {detail}{hint}", fg="red", err=True)
    return 3


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 1 validation failures, 2 errors in the
    input, 3 internal errors, 130 interrupted)."""
    global _debug
    _debug = _env_debug()
    try:
        cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except SystemExit as exc:  # commands signal a result by exit code
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    except Exception as exc:
        return _fail(exc)
    finally:
        from toolkit import logs

        logs.flush_pending()
    return 0


def entry() -> None:
    sys.exit(main())
