"""Rerank tasks: a history, 10 shuffled candidates, the target, whether it is a discovery.

A task directory holds ``train.jsonl``, ``val.jsonl``, ``test.jsonl`` (one example per
line, readable by ``datasets.load_dataset("json", ...)``), ``catalog.jsonl`` and
``meta.json`` (source, seed, options, counts). Building one: ``prepare_tasks`` below.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from toolkit.errors import InputError
from toolkit.io import read_jsonl
from toolkit.records import Catalog, History, Interaction, Item

Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")
LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class RerankExample(BaseModel):
    """One prediction: which of ``candidates`` does the user interact with next?"""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    example_id: str
    user_id: str
    history: History
    candidates: tuple[str, ...]
    target: str
    discovery: bool
    split: Split

    @property
    def target_index(self) -> int:
        return self.candidates.index(self.target)

    def to_json(self) -> dict[str, Any]:
        return {
            "example_id": self.example_id,
            "user_id": self.user_id,
            "history": [x.to_json() for x in self.history.interactions],
            "candidates": list(self.candidates),
            "target": self.target,
            "discovery": self.discovery,
            "split": self.split,
        }

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> RerankExample:
        history = History.model_construct(
            user_id=str(row["user_id"]),
            interactions=tuple(Interaction.from_json(x) for x in row["history"]),
        )
        return cls.model_construct(
            example_id=str(row["example_id"]),
            user_id=str(row["user_id"]),
            history=history,
            candidates=tuple(str(c) for c in row["candidates"]),
            target=str(row["target"]),
            discovery=bool(row["discovery"]),
            split=row["split"],
        )


_REQUIRED = ("example_id", "user_id", "history", "candidates", "target", "discovery", "split")


class TaskSet:
    """A loaded task directory: examples per split, the catalog and the metadata."""

    def __init__(
        self,
        examples: dict[str, list[RerankExample]],
        catalog: Catalog,
        meta: dict[str, Any],
        path: Path | None = None,
    ):
        self.examples = examples
        self.catalog = catalog
        self.meta = meta
        self.path = path

    def split(self, name: str) -> list[RerankExample]:
        if name not in self.examples:
            raise InputError.at(f"no split {name!r}; have {sorted(self.examples)}", self.path)
        return self.examples[name]

    def __iter__(self) -> Iterator[RerankExample]:
        for split in SPLITS:
            yield from self.examples.get(split, [])

    @property
    def domain(self) -> str:
        return str(self.meta.get("domain", "streaming"))

    @classmethod
    def load(cls, path: str | Path, splits: tuple[str, ...] = SPLITS) -> TaskSet:
        import json

        path = Path(path)
        if not path.is_dir():
            raise InputError.at("task directory not found (run `vtk data prepare` first)", path)
        meta_path = path / "meta.json"
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        catalog = Catalog(Item.from_json(row) for _, row in read_jsonl(path / "catalog.jsonl"))
        examples: dict[str, list[RerankExample]] = {}
        for split in splits:
            file = path / f"{split}.jsonl"
            if not file.is_file():
                continue
            rows = []
            for lineno, row in read_jsonl(file):
                for key in _REQUIRED:
                    if key not in row:
                        raise InputError.at("missing", file, lineno, key)
                rows.append(RerankExample.from_json(row))
            examples[split] = rows
        return cls(examples, catalog, meta, path)
