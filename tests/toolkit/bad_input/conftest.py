"""Helpers of the bad-input suite: run ``vtk`` in-process and read what the user sees.

Every case asserts the same contract: a non-zero exit, one ``error:`` message that names
what was wrong (file, line and field where they exist), no traceback, nothing
half-written, nothing of the user's lost.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from toolkit.cli import main

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def vtk(capsys):
    """``vtk(*args)`` -> Result(code, stdout, stderr), run through ``toolkit.cli.main``."""

    def run(*args: object) -> Result:
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def assert_error(result: Result, *parts: str, code: int = 2) -> None:
    """Exit ``code``, every part in the message, and no traceback anywhere."""
    text = result.out + result.err
    assert result.code == code, text
    assert "Traceback" not in text, text
    assert "error" in text.lower(), text
    for part in parts:
        assert part in text, f"{part!r} not in {text!r}"


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def log_csv(n_users: int = 6, n_items: int = 30, per_user: int = 8) -> str:
    """A valid interactions.csv: every user touches a few of many items (room for negatives)."""
    lines = ["user_id,item_id,timestamp"]
    for u in range(n_users):
        for k in range(per_user):
            lines.append(f"u{u},i{(u * 3 + k) % n_items},{1_600_000_000 + 3600 * (u * 50 + k)}")
    lines += [f"f{i},i{i},{1_600_000_000 + i}" for i in range(n_items)]
    return "\n".join(lines) + "\n"


def vtk_process(*args: object, **kwargs) -> subprocess.Popen:
    """``vtk`` in a child process (for kill -9), importing this checkout first."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    code = "import sys; from toolkit.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )
