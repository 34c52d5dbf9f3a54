"""A content-keyed store for verbalizations (or anything that is a pure function of its inputs).

A cached row is only reused when *everything* that produced it is the same: the example and the
window shown, the verbalizer, the model weights, the grammar, the prompt template and the
decoding settings. ``content_key`` hashes all of these; a mismatch in any part is a different key,
so another model's outputs are never served by mistake.

``ContentStore`` keeps one small JSON file per key (sharded by the key's first two hex digits).
Each ``put`` writes a temporary file, fsyncs it and renames it into place, so a process killed
mid-write leaves either the old entry or the new one, never a torn one; readers ignore stray
temporary files.

>>> key = content_key(example="u1", verbalizer="template")
>>> key == content_key(verbalizer="template", example="u1")
True
>>> key == content_key(example="u1", verbalizer="zero_shot")
False
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

_HEAD_BYTES = 1 << 16


def canonical_json(obj: Any) -> str:
    """The one spelling of ``obj`` that keys are made from: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_key(**parts: Any) -> str:
    """sha256 (hex) of the canonical JSON of ``parts``; argument order does not matter."""
    return hashlib.sha256(canonical_json(parts).encode()).hexdigest()


def text_hash(text: str) -> str:
    """A short hash of a text (a prompt template, a grammar's schema) to put in a key."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def model_fingerprint(model: Any, values: int = 256) -> str:
    """A hash of a loaded model's weights: names, shapes and the first ``values`` numbers of every
    tensor (enough to tell two checkpoints or two random initialisations apart, cheaply)."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        head = tensor.detach().flatten()[:values].float().cpu().contiguous()
        h.update(f"{name}{tuple(tensor.shape)}".encode())
        h.update(head.numpy().tobytes())
    return h.hexdigest()


def path_fingerprint(path: str | Path) -> str:
    """A hash of a weights file or folder by content, cheaply: every file's relative name, size and
    first and last 64 KiB. A copy has the same fingerprint; retrained weights do not."""
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such weights file or folder to fingerprint")
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    h = hashlib.sha256()
    for file in files:
        size = file.stat().st_size
        h.update(f"{file.relative_to(root) if file != root else file.name}\0{size}\0".encode())
        with file.open("rb") as fh:
            h.update(fh.read(_HEAD_BYTES))
            if size > 2 * _HEAD_BYTES:
                fh.seek(-_HEAD_BYTES, os.SEEK_END)
                h.update(fh.read(_HEAD_BYTES))
    return h.hexdigest()[:16]


def weights_fingerprint(model: Any) -> str:
    """Fingerprint whatever names the weights: a path (file or folder) or a loaded model."""
    if isinstance(model, str | Path):
        return path_fingerprint(model)
    return model_fingerprint(model)


class ContentStore:
    """A durable key -> dict store in a folder; safe against kill -9 and concurrent writers."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def _file(self, key: str) -> Path:
        if not key or any(c not in "0123456789abcdef" for c in key):
            raise ValueError(f"cache key must be lowercase hex (from content_key), got {key!r}")
        return self.path / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored value, or None when absent (or, defensively, unreadable)."""
        file = self._file(key)
        try:
            entry = json.loads(file.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return None
        if not isinstance(entry, dict) or entry.get("key") != key:
            return None
        return entry["value"]

    def get_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The values found, by key; missing keys are left out."""
        found = {}
        for key in keys:
            value = self.get(key)
            if value is not None:
                found[key] = value
        return found

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` under ``key`` atomically: temp file, fsync, rename."""
        if not isinstance(value, dict):
            raise TypeError(f"ContentStore values are dicts, got {type(value).__name__}")
        file = self._file(key)
        file.parent.mkdir(parents=True, exist_ok=True)
        data = canonical_json({"key": key, "value": value}).encode()
        fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(file.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def _files(self) -> list[Path]:
        """The stored entries' files (not the temp files of a write under way)."""
        return [f for f in sorted(self.path.glob("??/*.json")) if not f.name.startswith(".")]

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every readable (key, value), in key order (files not named by a key skipped)."""
        for file in self._files():
            try:
                value = self.get(file.stem)
            except ValueError:  # not a content key: not one of ours
                continue
            if value is not None:
                yield file.stem, value

    def __len__(self) -> int:
        return len(self._files())

    def export(self, file: str | Path, keys: Iterable[str], *, merge: bool = False) -> int:
        """Write the entries of ``keys`` that are stored to a gzipped JSON-lines archive (one
        ``{"key", "value"}`` per line, in key order), atomically; returns how many. An archive
        carries expensive results (an LLM reader's answers) to another machine's store.

        ``merge``: an archive already at ``file`` is read first (its entries this store lacks
        are put, as ``load_archive`` does) and every entry it holds is written again, so the
        archive only grows: a run that asks for fewer keys, or a process on another store,
        never shrinks it."""
        import gzip

        target = Path(file)
        target.parent.mkdir(parents=True, exist_ok=True)
        keys = set(keys)
        if merge and target.exists():
            held = self._read_archive(target)
            self._put_missing(held)
            keys.update(key for key, _ in held)
        found = self.get_many(sorted(keys))
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
        try:
            with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
                for key, value in found.items():
                    gz.write((canonical_json({"key": key, "value": value}) + "\n").encode())
            os.chmod(tmp, 0o644)  # a file to share (mkstemp makes it private)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return len(found)

    def load_archive(self, file: str | Path) -> int:
        """Put every entry of an ``export`` archive that this store lacks; returns how many
        were new. A line that is not ``{"key": <content key>, "value": {...}}`` is refused
        (``ValueError`` naming the file and line) before anything is written."""
        return self._put_missing(self._read_archive(Path(file)))

    def _read_archive(self, source: Path) -> list[tuple[str, dict[str, Any]]]:
        """The entries of an ``export`` archive, every line checked (see ``load_archive``)."""
        import gzip

        entries: list[tuple[str, dict[str, Any]]] = []
        with gzip.open(source, "rt", encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, 1):
                try:
                    entry = json.loads(line)
                    key, value = entry["key"], entry["value"]
                    self._file(key)
                except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                    raise ValueError(
                        f"{source}: line {line_no}: not a cache archive entry"
                        f' {{"key": <hex>, "value": {{...}}}} ({exc})'
                    ) from None
                if not isinstance(value, dict):
                    raise ValueError(f"{source}: line {line_no}: field 'value' is not an object")
                entries.append((key, value))
        return entries

    def _put_missing(self, entries: list[tuple[str, dict[str, Any]]]) -> int:
        new = 0
        for key, value in entries:
            if key not in self:
                self.put(key, value)
                new += 1
        return new
