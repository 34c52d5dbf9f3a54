"""What reaches the terminal: vtk's own progress and warnings, nothing else.

Library chatter (transformers, TRL, datasets, peft, torch: their log records, their Python
warnings, their progress bars) goes to the run's log file, ``<run folder>/vtk.log``, and
with ``vtk -v`` to the terminal as well. vtk's own warnings (``VtkWarning``, or a plain
``UserWarning`` that vtk's code raised) are printed as one ``warning: ...`` line, without
the source line Python would show. ``configure`` is called once by the CLI; a command
that has a run folder wraps its work in ``run_log(folder)``; what a command without one
logged goes to ``<vtk cache>/logs/last.log`` (``flush_pending``).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import logging
import os
import sys
import warnings
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LOG_NAME = "vtk.log"
VTK_PACKAGES = ("toolkit", "trainers", "grammars", "actions", "prompts")
LIBRARIES = (
    "transformers",
    "trl",
    "peft",
    "datasets",
    "accelerate",
    "torch",
    "outlines",
    "outlines_core",
    "xgrammar",
    "llguidance",
    "huggingface_hub",
    "filelock",
    "urllib3",
    "httpx",
    "fsspec",
)
QUIET_ENV = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # transformers reads it too ("Writing model shards")
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",  # "Dropping fully masked examples ..."
    "TOKENIZERS_PARALLELISM": "false",  # the fork warning of the tokenizers library
}
TAMED_MODULES = ("transformers.utils.logging", "datasets.utils.logging")
"""Modules that give their library a terminal handler when imported."""
_ROOTS = tuple(str(Path(__file__).resolve().parents[1] / p) for p in VTK_PACKAGES)


class VtkWarning(UserWarning):
    """A warning worded for vtk's user; always shown on the terminal."""


class _LibraryHandler(logging.Handler):
    """Library records: into the run's log file (buffered until one is attached), and to
    the terminal with ``-v``."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.verbose = False
        self.file: logging.Handler | None = None
        self.pending: deque[logging.LogRecord] = deque(maxlen=5000)

    def emit(self, record: logging.LogRecord) -> None:
        if self.file is not None:
            self.file.handle(record)
        else:
            self.pending.append(record)
        if self.verbose:
            try:
                sys.stderr.write(self.format(record) + "\n")
            except Exception:
                self.handleError(record)


_HANDLER = _LibraryHandler()
_WARNINGS = logging.getLogger("py.warnings")


def _is_vtk(filename: str) -> bool:
    return str(Path(filename).resolve()).startswith(_ROOTS)


def _raised_by_vtk() -> bool:
    """Whether the code that called ``warnings.warn`` is vtk's (not where ``stacklevel``
    points: a library's warning often points into the code that called the library)."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.endswith("warnings.py"):
        frame = frame.f_back
    return frame is not None and _is_vtk(frame.f_code.co_filename)


def _showwarning(message, category, filename, lineno, file=None, line=None) -> None:
    if issubclass(category, VtkWarning) or (category is UserWarning and _raised_by_vtk()):
        text = f"warning: {message}"
        try:
            import click

            click.secho(text, fg="yellow", err=True)
        except Exception:
            print(text, file=sys.stderr)
        return
    _WARNINGS.warning("%s: %s (%s:%s)", category.__name__, message, filename, lineno)


def _route_loggers() -> None:
    """Our handler on every library logger, theirs (terminal streams) removed."""
    for name in (*LIBRARIES, "py.warnings"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            stream = isinstance(handler, logging.StreamHandler)
            if stream and handler is not _HANDLER and not isinstance(handler, logging.FileHandler):
                logger.removeHandler(handler)
        if _HANDLER not in logger.handlers:
            logger.addHandler(_HANDLER)
        logger.propagate = False


def _tame_module(name: str, module: Any) -> None:
    if name == "transformers.utils.logging":
        module.get_logger()  # creates its terminal handler now, so it can be removed
        module.disable_default_handler()
        module.disable_progress_bar()
    _route_loggers()


class _TameOnImport(importlib.abc.MetaPathFinder):
    """Tames a library the moment its logging module is imported (it adds its terminal
    handler then), so commands that load models late stay quiet without importing them
    early."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name not in TAMED_MODULES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def run(module: Any) -> None:
            exec_module(module)
            with contextlib.suppress(Exception):
                _tame_module(name, module)

        loader.exec_module = run  # type: ignore[method-assign]
        return spec


_FINDER = _TameOnImport()


def tame() -> None:
    """Take the libraries' own terminal handlers and progress bars away now (for those
    already imported) and as soon as the others are imported."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    for name in TAMED_MODULES:
        if name in sys.modules:
            with contextlib.suppress(Exception):
                _tame_module(name, sys.modules[name])
    _route_loggers()


def configure(verbose: bool = False) -> None:
    """Route warnings and library logs (see the module docstring); idempotent."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    _HANDLER.verbose = verbose
    warnings.showwarning = _showwarning
    tame()


@contextlib.contextmanager
def run_log(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Append the library log of the work inside to ``folder/vtk.log`` (created)."""
    path = Path(folder) / LOG_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(_HANDLER.formatter)
    previous, _HANDLER.file = _HANDLER.file, handler
    while _HANDLER.pending:
        handler.handle(_HANDLER.pending.popleft())
    tame()
    try:
        yield path
    finally:
        _HANDLER.file = previous
        handler.close()


def flush_pending() -> Path | None:
    """Write what was logged outside any ``run_log`` (a command without a run folder) to
    ``<vtk cache>/logs/last.log``, replacing the previous one; return its path."""
    if not _HANDLER.pending:
        return None
    from toolkit.models import cache_dir

    path = cache_dir() / "logs" / "last.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as fh:
            while _HANDLER.pending:
                fh.write(_HANDLER.format(_HANDLER.pending.popleft()) + "\n")
    except OSError:
        return None
    return path


__all__ = ["LOG_NAME", "VtkWarning", "configure", "flush_pending", "run_log", "tame"]
