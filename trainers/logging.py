"""Training metrics: one JSON line per log step, TensorBoard when installed, a progress line.

TRL averages its metrics over each logging window and hands them to ``on_log``; this
callback appends them to ``metrics.jsonl`` (appending on resume, so a resumed run's file
continues the step count), mirrors the scalars to TensorBoard when the ``tensorboard``
package is importable, and prints a one-line summary per log step. On a terminal a rich
bar with the ETA shows the steps; when the stage ends, one line gives its key numbers.
``quiet_trainer`` takes transformers' own printers (raw log dicts, tqdm bars) off a trainer.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from transformers import TrainerCallback

SFT_SUMMARY = (
    ("loss", "loss {:.3f}"),
    ("mean_token_accuracy", "token acc {:.2f}"),
)
"""Keys of the warm start's (SFT's) progress line."""

SUMMARY = (
    ("reward", "reward {:.3f}"),
    ("reward_std", "± {:.3f}"),
    ("accuracy", "acc {:.3f}"),
    ("verbalizer/compression", "ratio {:.2f}"),
    ("verbalizer/noise_dropped", "noise dropped {:.0%}"),
    ("verbalizer/signal_dropped", "signal dropped {:.0%}"),
    ("frac_reward_zero_std", "zero-std {:.2f}"),
    ("kl", "kl {:.4f}"),
    ("logprobs/sampler_masked_minus_unmasked", "grammar-excluded {:.1f} nats"),
    ("time/step", "{:.1f} s/step"),
)
"""Keys shown in the progress line, in order, with their formats."""


def tensorboard_available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


def clean(logs: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe scalars: NaN/inf become None, tensors become floats.

    >>> clean({"a": 1.5, "b": float("nan"), "c": "x"})
    {'a': 1.5, 'b': None, 'c': 'x'}
    """
    out: dict[str, Any] = {}
    for key, value in logs.items():
        if hasattr(value, "item"):
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        out[key] = value
    return out


def quiet_trainer(trainer: Any) -> None:
    """Remove transformers' printers (they print raw dicts such as ``{'loss': '1.111'}``)."""
    from transformers import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)


class StageProgress(TrainerCallback):
    """The terminal view of one training stage: the bar, one line per log step, and a
    closing line with the stage's last numbers and wall time."""

    def __init__(
        self,
        label: str,
        summary: tuple[tuple[str, str], ...] = SUMMARY,
        *,
        stream: TextIO | None = None,
    ):
        from toolkit.progress import Bar

        self.label = label
        self.summary = summary
        self.stream = stream
        self.bar = Bar(0, label, unit="step", stream=stream, enabled=False)
        self.last: dict[str, Any] = {}
        self._start = time.time()

    def on_train_begin(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        from toolkit.progress import Bar

        self._start = time.time()
        self.bar = Bar(
            state.max_steps,
            self.label,
            unit="step",
            stream=self.stream,
            done=state.global_step,
            lines=False,  # on_log prints a line per log step
            enabled=state.is_world_process_zero,
        ).__enter__()

    def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        self.bar.set(state.global_step)

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **_: Any
    ) -> None:
        if not logs or not state.is_world_process_zero:
            return
        if not any(key in logs for key, _ in self.summary):
            return  # e.g. the trainer's closing totals: the closing line covers them
        self.last.update(clean(logs))
        line = progress_line(state.global_step, state.max_steps, self.last, self.summary)
        self.bar.echo(f"{self.label}: {line}")

    def on_train_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        self.bar.__exit__(None, None, None)
        if state.is_world_process_zero:
            numbers = progress_line(state.global_step, state.max_steps, self.last, self.summary)
            numbers = numbers.split("  ", 1)[1] if "  " in numbers else ""
            took = time.time() - self._start
            self.bar.echo(
                f"{self.label}: done, {state.global_step} steps in {took:.0f} s  {numbers}"
            )


def progress_line(
    step: int,
    max_steps: int,
    logs: dict[str, Any],
    summary: tuple[tuple[str, str], ...] = SUMMARY,
) -> str:
    """``step 3/10  reward 0.520 ± 0.310  acc 0.500 ...`` from whichever keys are present.

    >>> progress_line(3, 10, {"reward": 0.5, "accuracy": 0.25})
    'step 3/10  reward 0.500  acc 0.250'
    """
    parts = [f"step {step}/{max_steps}"]
    for key, fmt in summary:
        value = logs.get(key)
        if isinstance(value, (int, float)) and math.isfinite(value):
            parts.append(fmt.format(value))
    return "  ".join(parts).replace("  ± ", " ± ")


class MetricsCallback(TrainerCallback):
    """Writes every log dict to JSONL (+ TensorBoard) and prints a progress line."""

    def __init__(
        self,
        path: str | Path,
        *,
        tensorboard_dir: str | Path | None = None,
        progress: bool = True,
        stream: TextIO | None = None,
        extra: dict[str, Any] | None = None,
    ):
        self.path = Path(path)
        self.progress = progress
        self.stream = stream
        self.extra = dict(extra or {})
        self._writer: Any = None
        if tensorboard_dir is not None and tensorboard_available():
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(tensorboard_dir))
        self._start = time.time()

    def on_train_begin(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        """On resume, drop what a killed run logged after its last checkpoint (and a line
        cut short by the kill), so the file has each step once."""
        if state.is_world_process_zero and self.path.is_file():
            keep = [r for r in read_metrics(self.path) if r.get("step", 0) <= state.global_step]
            from toolkit.io import atomic_file

            with atomic_file(self.path) as fh:
                fh.writelines(json.dumps(r) + "\n" for r in keep)

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **_: Any
    ) -> None:
        if not logs or not state.is_world_process_zero:
            return
        row = {"step": state.global_step, "time": round(time.time() - self._start, 3)}
        row.update(self.extra)
        row.update(clean(logs))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        if self._writer is not None:
            for key, value in row.items():
                if isinstance(value, (int, float)) and key != "step":
                    self._writer.add_scalar(key, value, state.global_step)
            self._writer.flush()
        if self.progress:
            print(
                progress_line(state.global_step, state.max_steps, row),
                file=self.stream or sys.stderr,
            )

    def on_train_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        if self._writer is not None:
            self._writer.close()


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``metrics.jsonl`` (empty when the file does not exist); a last line
    cut short by a killed run is left out."""
    path = Path(path)
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    if not text.endswith("\n"):
        lines = lines[:-1]  # no newline after it: the write was cut short
    return [json.loads(line) for line in lines if line]
