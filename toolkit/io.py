"""Atomic writes and JSONL reading: nothing vtk writes is ever half-written, and nothing vtk
did not write is ever deleted.

Every temporary path vtk makes is named ``.<target>.vtk-tmp-<host>-<pid>-<random>``
beside its target, so that a process killed with ``kill -9`` leaves something the next
writer of that target can recognise and remove: a temporary path of this machine whose
owning process no longer runs.
A folder vtk writes carries a manifest (``.vtk-written``) of its files; replacing a folder
(``--overwrite``) is refused unless every file in it is listed there (or, for folders
written before manifests existed, unless it holds the writer's own metadata file).
Files and folders follow the umask, as other tools' output does.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from toolkit.errors import InputError

TEMP_TAG = ".vtk-tmp-"
MANIFEST = ".vtk-written"
MAX_JSON_DEPTH = 200
"""Deepest JSON nesting vtk reads; deeper input is refused instead of overflowing the stack."""


class TargetExistsError(InputError, FileExistsError):
    """The output exists and ``overwrite`` was not given."""


def _umask() -> int:
    """The process umask, read without changing it where the system allows (Linux), since
    setting it, even for a moment, affects files other threads create meanwhile."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _host() -> str:
    """A short tag of this machine: a pid proves nothing about another host's processes
    (a folder shared over the network, or by containers)."""
    import hashlib
    import socket

    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def temp_prefix(target: Path) -> str:
    """``.<name>.vtk-tmp-<host>-<pid>-``: the prefix of every temporary path beside
    ``target``."""
    return f".{target.name}{TEMP_TAG}{_host()}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temps(target: str | os.PathLike[str]) -> list[Path]:
    """Remove temporary paths beside ``target`` left by vtk processes of this machine that
    no longer run (a ``kill -9``); return what was removed. Paths of live processes, and
    of other machines, are kept."""
    target = Path(target)
    pattern = re.compile(re.escape(f".{target.name}{TEMP_TAG}{_host()}-") + r"(\d+)-")
    removed = []
    if not target.parent.is_dir():
        return removed
    for entry in target.parent.iterdir():
        match = pattern.match(entry.name)
        if match is None or _alive(int(match.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
        removed.append(entry)
    return removed


def _files(folder: Path) -> set[str]:
    return {
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink()
    }


def check_replaceable(target: str | os.PathLike[str], marker: str | None = None) -> None:
    """Raise InputError unless replacing ``target`` deletes only files vtk wrote.

    Replaceable: no such path, an empty folder, a folder whose files are all in its
    manifest, or (written before manifests) a folder holding ``marker``, the writer's own
    metadata file. A file, or a folder with anything else in it, is never replaced.
    """
    target = Path(target)
    if not target.exists() and not target.is_symlink():
        return
    hint = "move it away or pick another --out"
    if target.is_symlink() or not target.is_dir():
        raise InputError.at(f"exists and is not a folder vtk wrote; {hint}", target)
    files = _files(target)
    if not files:
        return
    manifest = target / MANIFEST
    if manifest.is_file():
        try:
            listed = set(json.loads(manifest.read_text(encoding="utf-8"))["files"])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise InputError.at("its vtk manifest is unreadable; " + hint, manifest) from None
        foreign = sorted(files - listed - {MANIFEST})
        if foreign:
            shown = ", ".join(foreign[:5]) + (
                f" and {len(foreign) - 5} more" if foreign[5:] else ""
            )
            raise InputError.at(f"holds files vtk did not write ({shown}); {hint}", target)
        return
    if marker is not None and (target / marker).is_file():
        return
    raise InputError.at(f"is a folder vtk did not write (no {MANIFEST}); {hint}", target)


def _follow_umask(path: Path, base: int) -> None:
    os.chmod(path, base & ~_umask())


@contextlib.contextmanager
def atomic_dir(
    target: str | os.PathLike[str], *, overwrite: bool = True, marker: str | None = "vtk.json"
) -> Iterator[Path]:
    """Yield a temporary directory beside ``target``; rename it to ``target`` on success.

    An existing ``target`` is replaced only when ``overwrite`` and ``check_replaceable``
    (with ``marker``) allow it; both are checked before any work starts.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not overwrite:
        raise TargetExistsError.at("exists; pass --overwrite or pick another --out", target)
    check_replaceable(target, marker)
    remove_stale_temps(target)
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(target), dir=target.parent))
    _follow_umask(tmp, 0o777)
    try:
        yield tmp
        (tmp / MANIFEST).write_text(
            json.dumps({"files": sorted(_files(tmp) - {MANIFEST})}, indent=0), encoding="utf-8"
        )
        if target.exists():
            check_replaceable(target, marker)  # it may have changed while the work ran
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if target.exists():
        old = Path(f"{tmp}-old")
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike[str], mode: str = "w") -> Iterator[Any]:
    """Open a temporary file beside ``target`` and rename it over ``target`` on success.

    The file keeps an existing target's permissions, else follows the umask."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(target), dir=target.parent)
    try:
        if target.is_file():
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        else:
            _follow_umask(Path(tmp), 0o666)
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[dict[str, Any]]) -> int:
    """Write rows atomically; return how many were written."""
    n = 0
    with atomic_file(path) as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False))
            fh.write("\n")
            n += 1
    return n


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    with atomic_file(path) as fh:
        json.dump(obj, fh, indent=2, ensure_ascii=False, default=str)
        fh.write("\n")


def parse_json(text: str, file: object = None, line: int | None = None) -> Any:
    """``json.loads`` whose every failure is an InputError naming file and line: invalid
    JSON, and nesting deeper than ``MAX_JSON_DEPTH`` (which would overflow the stack).

    >>> parse_json('{"a": [1]}')
    {'a': [1]}
    """
    if too_deep(text, MAX_JSON_DEPTH):
        raise InputError.at(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", file, line)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError.at(f"invalid JSON ({exc.msg} at column {exc.colno})", file, line) from exc
    except RecursionError:
        raise InputError.at("JSON nested too deeply", file, line) from None


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_PAIR = re.compile(r"\[\]|\{\}")


def too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether brackets outside strings nest deeper than ``limit``: the brackets alone are
    kept and innermost pairs removed one level per pass (a few passes for the usual row;
    a line with fewer brackets than the limit returns at once)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    for _ in range(limit):
        inner = _PAIR.sub("", brackets)
        if not inner or inner == brackets:  # balanced, or unbalanced (invalid JSON)
            return False
        brackets = inner
    return True


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, row)``; a malformed line raises InputError naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise InputError.at("file not found", path)
    with path.open(encoding="utf-8") as fh:
        try:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                row = parse_json(line, path, lineno)
                if not isinstance(row, dict):
                    raise InputError.at("expected a JSON object", path, lineno)
                yield lineno, row
        except UnicodeDecodeError as exc:
            raise InputError.at(f"not UTF-8 text ({exc.reason})", path) from None
