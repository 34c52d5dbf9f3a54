"""vtk's progress display for long loops (verbalizing, answering, training steps).

On a terminal: a rich bar with the count, the rate and the time left, removed when done.
Elsewhere (a background run writing to a log file): one plain line each time another
tenth is done, so the log shows where a run is without a line per batch (``lines=False``
when the caller prints its own lines, as a training stage does per log step).
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


def rate(done: int, seconds: float, unit: str = "ex") -> str:
    """Seconds per unit when slow, units per second when fast.

    >>> rate(10, 25.0), rate(500, 0.5), rate(0, 1.0)
    ('2.50 s/ex', '1000 ex/s', '-')
    """
    if done <= 0:
        return "-"
    if seconds >= done:
        return f"{seconds / done:.2f} s/{unit}"
    return f"{done / max(seconds, 1e-9):.0f} {unit}/s"


class Bar:
    """``with Bar(total, "actions") as bar: ... bar.update(n)``; silent when
    ``enabled`` is false or there is nothing to do. ``done``: work finished before (a
    resumed run); ``echo`` prints a line above the bar (or plainly, off a terminal)."""

    def __init__(
        self, total: int, desc: str, *, unit: str = "ex", enabled: bool = True,
        stream: TextIO | None = None, done: int = 0, lines: bool = True,
    ):  # fmt: skip
        self.total = total
        self.desc = desc
        self.unit = unit
        self.enabled = enabled and total > 0
        self.stream = stream
        self.lines = lines
        self.done = done
        self._rich: Any = None
        self._task: Any = None
        self._next_line = 0.1
        self._pass_printed_tenths()
        self._start = time.monotonic()

    def __enter__(self) -> Bar:
        if not self.enabled:
            return self
        from rich.console import Console

        console = Console(file=self.stream or sys.stderr)
        if console.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._rich = Progress(
                f"[bold]{self.desc}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )
            self._task = self._rich.add_task(self.desc, total=self.total, completed=self.done)
            self._rich.start()
        return self

    def set(self, done: int) -> None:
        """Move to ``done`` units finished."""
        self.update(done - self.done)

    def echo(self, line: str) -> None:
        if self._rich is not None:
            self._rich.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=self.stream or sys.stderr, flush=True)

    def update(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        if self._rich is not None:
            self._rich.update(self._task, completed=self.done)
        elif not self.lines:
            return
        elif self.done / self.total >= self._next_line or self.done >= self.total:
            elapsed = time.monotonic() - self._start
            print(
                f"{self.desc}: {self.done}/{self.total} {self.unit} ({elapsed:.0f} s, "
                f"{rate(self.done, elapsed, self.unit)})",
                file=self.stream or sys.stderr,
                flush=True,
            )
            self._pass_printed_tenths()

    def _pass_printed_tenths(self) -> None:
        """Move the next plain line past the tenths already done."""
        while self.total > 0 and self._next_line <= self.done / self.total:
            self._next_line += 0.1

    def __exit__(self, *exc: Any) -> None:
        if self._rich is not None:
            self._rich.stop()
            self._rich = None
