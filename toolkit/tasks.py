"""Rerank tasks: a history, 10 shuffled candidates, the target, whether it is a discovery.

A task directory holds ``train.jsonl``, ``val.jsonl``, ``test.jsonl`` (one example per
line, readable by ``datasets.load_dataset("json", ...)``), ``catalog.jsonl`` and
``meta.json`` (source, seed, options, counts). Building one: ``prepare_tasks`` below.

Preparation in three steps: choose target positions per user (the split), cut each
history to the ``max_history`` interactions before its target, and draw the negatives
from items the user never touched with a generator seeded by ``(seed, example_id)``, so
a file's bytes depend on the seed and the data only, never on processing order.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import random
import statistics
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from toolkit.errors import InputError, Problem
from toolkit.io import atomic_dir, read_jsonl, write_json
from toolkit.records import Catalog, Dataset, History, Interaction, Item
from toolkit.sources.base import OnError

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

    def shown(self, max_history: int | None) -> RerankExample:
        """The example as a reader sees it: the last ``max_history`` interactions (None: all)
        and ``discovery`` recomputed on them, so a target seen only before the window is a
        discovery for a reader that was never shown it."""
        if max_history is None or len(self.history) <= max_history:
            return self
        history = self.history.last(max_history)
        return self.model_copy(
            update={"history": history, "discovery": is_discovery(history, self.target)}
        )

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
    def from_json(
        cls, row: dict[str, Any], cache: dict[Any, Interaction] | None = None
    ) -> RerankExample:
        """Parse one row; ``cache`` shares equal interactions between rows (histories of
        one user overlap), which makes loading a task file several times faster."""
        parse = Interaction.from_json if cache is None else _cached_parser(cache)
        history = History.model_construct(
            user_id=str(row["user_id"]),
            interactions=tuple(parse(x) for x in row["history"]),
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


def is_discovery(history: History, target: str) -> bool:
    """True when ``target`` is absent from ``history`` (the reader has not seen it)."""
    return all(x.item_id != target for x in history.interactions)


def _cached_parser(cache: dict[Any, Interaction]):
    def parse(x: dict[str, Any]) -> Interaction:
        attrs = x.get("attrs") or {}
        try:
            key = (x.get("timestamp"), x["item_id"], x["event"], x.get("duration"), *attrs.items())
            found = cache.get(key)
        except TypeError:  # unhashable attribute values: no sharing
            return Interaction.from_json(x)
        if found is None:
            found = cache[key] = Interaction.from_json(x)
        return found

    return parse


_REQUIRED = ("example_id", "user_id", "history", "candidates", "target", "discovery", "split")


def _parse_row(
    row: dict[str, Any], file: Path, lineno: int, cache: dict[Any, Interaction]
) -> RerankExample:
    for key in _REQUIRED:
        if key not in row:
            raise InputError.at("missing", file, lineno, key)
    if not isinstance(row["history"], list):
        raise InputError.at("expected a list of interactions", file, lineno, "history")
    for i, x in enumerate(row["history"]):
        for key in ("item_id", "event"):
            if not isinstance(x, dict) or key not in x:
                raise InputError.at("missing", file, lineno, f"history[{i}].{key}")
    if row["split"] not in SPLITS:
        raise InputError.at(f"expected one of {list(SPLITS)}", file, lineno, "split")
    try:
        example = RerankExample.from_json(row, cache)
    except (TypeError, ValueError) as exc:
        raise InputError.at(str(exc), file, lineno) from exc
    if example.target not in example.candidates:
        raise InputError.at("the target is not among the candidates", file, lineno, "target")
    return example


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
        path = Path(path)
        if not path.is_dir():
            raise InputError.at("task directory not found (run `vtk data prepare` first)", path)
        meta_path = path / "meta.json"
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        catalog = Catalog(Item.from_json(row) for _, row in read_jsonl(path / "catalog.jsonl"))
        examples: dict[str, list[RerankExample]] = {}
        cache: dict[Any, Interaction] = {}
        for split in splits:
            file = path / f"{split}.jsonl"
            if not file.is_file():
                continue
            rows = []
            for lineno, row in read_jsonl(file):
                rows.append(_parse_row(row, file, lineno, cache))
            examples[split] = rows
        return cls(examples, catalog, meta, path)


# --------------------------------------------------------------------------- preparation


class TaskConfig(BaseModel):
    """How rerank examples are cut from a data set.

    Split: ``leave-last-out`` (per user: test = last target, val = second to last, train =
    up to ``train_per_user`` earlier targets) or ``global-time`` (cut points at the
    ``1 - val_fraction - test_fraction`` and ``1 - test_fraction`` quantiles of all
    timestamps; one val and one test example per user: its first target in the window).
    Candidates: ``n_candidates`` = target + negatives, drawn ``popularity``-weighted (by
    interaction counts) or ``uniform`` from items the user never touched. Popularity is the
    default because uniform negatives let popularity alone score 38% Recall@1 on ML-100K.
    Targets: never interactions a source flags as noise (``attrs["signal"] is False``); only
    ``target_events`` when given; only with at least ``min_history`` earlier interactions.
    An example is a ``discovery`` when its target is absent from the history it shows.
    """

    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    n_candidates: int = Field(10, ge=2, le=len(LABELS))
    negatives: Literal["popularity", "uniform"] = "popularity"
    split: Literal["leave-last-out", "global-time"] = "leave-last-out"
    max_history: int = Field(100, ge=1)
    min_history: int = Field(1, ge=0)
    train_per_user: int = Field(5, ge=0)
    val_fraction: float = Field(0.1, gt=0, lt=1)
    test_fraction: float = Field(0.1, gt=0, lt=1)
    target_events: list[str] | None = None
    negatives_like_targets: bool = False
    """Draw negatives only from items seen with a target event (a next condition among
    conditions, not among visits); needs ``target_events``."""

    @model_validator(mode="after")
    def _fractions(self) -> TaskConfig:
        if self.val_fraction + self.test_fraction >= 1:
            raise ValueError("val_fraction + test_fraction must be below 1")
        return self


def example_rng(seed: int, example_id: str) -> random.Random:
    """The generator of one example: same (seed, id), same negatives and order.

    A ``random.Random`` rather than numpy: an example needs a dozen draws, and numpy's
    per-call overhead made generator set-up dominate preparation of large data sets.
    """
    digest = hashlib.blake2b(f"{seed}:{example_id}".encode(), digest_size=16).digest()
    return random.Random(int.from_bytes(digest, "little"))


class _Sampler:
    """Draws negatives for a user from catalog items outside the user's touched set.

    Rejection sampling against the (weighted) catalog keeps a draw cheap on large
    catalogs; when the user touched most of the mass it falls back to exact sampling.
    """

    def __init__(self, item_ids: list[str], weights: list[float] | None):
        self.item_ids = item_ids
        self.index = {item: i for i, item in enumerate(item_ids)}
        self.weights = weights
        self.cdf = None if weights is None else list(itertools.accumulate(weights))
        self.total = 0.0 if self.cdf is None or not self.cdf else self.cdf[-1]

    def _one(self, rng: random.Random) -> int:
        if self.cdf is None or self.total <= 0:
            return rng.randrange(len(self.item_ids))
        i = bisect.bisect_right(self.cdf, rng.random() * self.total)
        return min(i, len(self.cdf) - 1)

    def draw(self, rng: random.Random, n: int, touched: set[int]) -> list[str] | None:
        chosen: list[int] = []
        for _ in range(8 * n + 32):
            d = self._one(rng)
            if d not in touched and d not in chosen:
                chosen.append(d)
                if len(chosen) == n:
                    return [self.item_ids[i] for i in chosen]
        allowed = [i for i in range(len(self.item_ids)) if i not in touched and i not in chosen]
        need = n - len(chosen)
        if len(allowed) < need:
            return None
        if self.weights is None:
            picks = rng.sample(allowed, need)
        else:
            # weighted without replacement (Efraimidis-Spirakis keys); weightless items last
            def key(i: int) -> float:
                w = self.weights[i]  # type: ignore[index]
                return rng.random() ** (1 / w) if w > 0 else -1 - rng.random()

            picks = sorted(allowed, key=key, reverse=True)[:need]
        return [self.item_ids[i] for i in chosen + picks]


def _is_target(x: Interaction, config: TaskConfig) -> bool:
    if x.attrs.get("signal") is False:
        return False
    return config.target_events is None or x.event in config.target_events


_EPOCH = datetime(1970, 1, 1)


def _seconds(ts: datetime) -> float:
    return (ts - _EPOCH).total_seconds()


def _clean_logs(
    dataset: Dataset, on_error: OnError, skipped: Counter[str]
) -> list[tuple[str, tuple[Interaction, ...]]]:
    """Users' logs, oldest first (stable: timestamp ties keep file order), catalog-checked."""
    logs = []
    known = set(dataset.catalog.ids())
    users: set[str] = set()
    for history in dataset.histories:
        if history.user_id in users:
            message = f"user {history.user_id!r} has more than one history; merge them first"
            raise InputError(Problem(message, dataset.name, None, "user_id"))
        users.add(history.user_id)
        kept = []
        for pos, x in enumerate(history.interactions):
            if x.item_id in known:
                kept.append(x)
                continue
            message = (
                f"user {history.user_id!r}, interaction {pos}: item {x.item_id!r} "
                "is not in the catalog"
            )
            if on_error == "raise":
                raise InputError(Problem(message, dataset.name, None, "item_id"))
            skipped["tasks: history item not in the catalog"] += 1
        stamps = [x.timestamp for x in kept]
        if all(t is not None for t in stamps) and any(
            a > b
            for a, b in itertools.pairwise(stamps)  # type: ignore[operator]
        ):
            kept.sort(key=lambda x: x.timestamp)  # stable: ties keep file order
        if kept:
            logs.append((history.user_id, tuple(kept)))
    return logs


def _leave_last_out(
    log: tuple[Interaction, ...], config: TaskConfig
) -> list[tuple[Split, int, int]]:
    """``(split, target position, history end)`` triples: test last, then val, then train."""
    eligible = [i for i, x in enumerate(log) if i >= config.min_history and _is_target(x, config)]
    out: list[tuple[Split, int, int]] = []
    if eligible:
        out.append(("test", eligible[-1], eligible[-1]))
    if len(eligible) >= 2:
        out.append(("val", eligible[-2], eligible[-2]))
    earlier = eligible[:-2][-config.train_per_user :] if config.train_per_user else []
    out += [("train", i, i) for i in earlier]
    return out


def _global_time(
    log: tuple[Interaction, ...], config: TaskConfig, cuts: tuple[float, float]
) -> list[tuple[Split, int, int]]:
    """As ``_leave_last_out``, but targets by window; history strictly before the target."""
    seconds = [_seconds(x.timestamp) for x in log]  # type: ignore[arg-type]
    by_split: dict[Split, list[tuple[int, int]]] = {"train": [], "val": [], "test": []}
    for i, x in enumerate(log):
        if not _is_target(x, config):
            continue
        end = bisect.bisect_left(seconds, seconds[i])
        if end < config.min_history:
            continue
        split: Split = (
            "train" if seconds[i] <= cuts[0] else "val" if seconds[i] <= cuts[1] else "test"
        )
        by_split[split].append((i, end))
    out: list[tuple[Split, int, int]] = []
    for split in ("test", "val"):
        if by_split[split]:
            out.append((split, *by_split[split][0]))
    train = by_split["train"][-config.train_per_user :] if config.train_per_user else []
    out += [("train", i, end) for i, end in train]
    return out


def time_cuts(dataset: Dataset, config: TaskConfig) -> tuple[float, float]:
    """The two global-time cut points (POSIX seconds of naive timestamps)."""
    import numpy as np

    stamps = [x.timestamp for h in dataset.histories for x in h.interactions]
    if not dataset.has_timestamps or not stamps or any(t is None for t in stamps):
        raise InputError.at(
            "the global-time split needs timestamps and this source has none; "
            "use --split leave-last-out",
            dataset.name,
            field="timestamp",
        )
    values = np.array([_seconds(t) for t in stamps])  # type: ignore[arg-type]
    q = np.quantile(
        values, [1 - config.val_fraction - config.test_fraction, 1 - config.test_fraction]
    )
    return float(q[0]), float(q[1])


def build_examples(
    dataset: Dataset, config: TaskConfig | None = None, *, on_error: OnError = "raise"
) -> tuple[dict[str, list[RerankExample]], dict[str, Any]]:
    """Cut the rerank examples of every split in memory; also return what was skipped
    (by reason) and the global-time cut points."""
    built = _build(dataset, config or TaskConfig(), on_error)
    return built.examples, built.info


@dataclass
class _Built:
    examples: dict[str, list[RerankExample]]
    info: dict[str, Any]
    logs: list[tuple[str, tuple[Interaction, ...]]]
    windows: dict[str, tuple[int, int, int]]
    """example id -> (index into logs, history start, history end)"""


def _build(dataset: Dataset, config: TaskConfig, on_error: OnError) -> _Built:
    skipped: Counter[str] = Counter()
    logs = _clean_logs(dataset, on_error, skipped)
    counts = Counter(x.item_id for _, log in logs for x in log)
    item_ids = dataset.catalog.ids()
    if config.negatives_like_targets and config.target_events is not None:
        like = {x.item_id for _, log in logs for x in log if _is_target(x, config)}
        item_ids = [i for i in item_ids if i in like]
    weights = [float(counts.get(i, 0)) for i in item_ids]
    sampler = _Sampler(item_ids, weights if config.negatives == "popularity" else None)
    cuts = time_cuts(dataset, config) if config.split == "global-time" else None
    examples: dict[str, list[RerankExample]] = {s: [] for s in SPLITS}
    windows: dict[str, tuple[int, int, int]] = {}
    n_neg = config.n_candidates - 1
    for u, (user_id, log) in enumerate(logs):
        plan = _leave_last_out(log, config) if cuts is None else _global_time(log, config, cuts)
        if not plan:
            continue
        touched = {sampler.index[x.item_id] for x in log if x.item_id in sampler.index}
        train_k = sum(1 for s, _, _ in plan if s == "train")
        for split, pos, end in plan:
            if split == "train":
                train_k -= 1
                k = train_k  # newest first: ids stay put when train_per_user changes
            else:
                k = 0
            example_id = f"{user_id}-{split}-{k}"
            rng = example_rng(config.seed, example_id)
            negatives = sampler.draw(rng, n_neg, touched)
            if negatives is None:
                message = (
                    f"user {user_id!r} touched {len(touched)} of {len(item_ids)} catalog items; "
                    f"{n_neg} untouched ones are needed as negatives"
                )
                if on_error == "raise":
                    raise InputError(Problem(message, dataset.name, None, "catalog"))
                skipped["tasks: too few untouched items for negatives"] += 1
                continue
            target = log[pos].item_id
            candidates = [target, *negatives]
            order = list(range(len(candidates)))
            rng.shuffle(order)
            start = max(0, end - config.max_history)
            interactions = log[start:end]
            windows[example_id] = (u, start, end)
            examples[split].append(
                RerankExample.model_construct(
                    example_id=example_id,
                    user_id=user_id,
                    history=History.model_construct(user_id=user_id, interactions=interactions),
                    candidates=tuple(candidates[j] for j in order),
                    target=target,
                    discovery=all(x.item_id != target for x in interactions),
                    split=split,
                )
            )
    info = {
        "skipped": {**dataset.skipped, **skipped},
        "cuts": None
        if cuts is None
        else [(_EPOCH + timedelta(seconds=c)).isoformat() for c in cuts],
    }
    return _Built(examples, info, logs, windows)


class _Encoder:
    """Serializes examples fast: each interaction is encoded once per user log (histories
    are overlapping windows of it) with one attrs key set for all (so Arrow infers one
    schema per file)."""

    def __init__(self, built: _Built):
        self.logs = built.logs
        self.windows = built.windows
        keys: set[str] = set()
        for _, log in self.logs:
            for x in log:
                keys.update(x.attrs)
        self.attr_keys = sorted(keys)
        self.encoded: dict[int, list[str]] = {}

    def _encode_log(self, u: int) -> list[str]:
        rows = self.encoded.get(u)
        if rows is None:
            rows = []
            for x in self.logs[u][1]:
                row = x.to_json()
                row["attrs"] = {k: x.attrs.get(k) for k in self.attr_keys}
                rows.append(json.dumps(row, ensure_ascii=False))
            self.encoded[u] = rows
        return rows

    def __call__(self, ex: RerankExample) -> str:
        u, start, end = self.windows[ex.example_id]
        history = "[" + ", ".join(self._encode_log(u)[start:end]) + "]"
        head = json.dumps({"example_id": ex.example_id, "user_id": ex.user_id}, ensure_ascii=False)
        tail = json.dumps(
            {
                "candidates": list(ex.candidates),
                "target": ex.target,
                "discovery": ex.discovery,
                "split": ex.split,
            },
            ensure_ascii=False,
        )
        return f'{head[:-1]}, "history": {history}, {tail[1:]}\n'


def prepare_tasks(
    dataset: Dataset,
    out_dir: str | Path,
    config: TaskConfig | None = None,
    *,
    on_error: OnError = "raise",
    overwrite: bool = True,
) -> dict[str, Any]:
    """Write a task directory for ``dataset`` (all files or none); return its meta.

    ``on_error="skip"`` drops history items missing from the catalog and users without
    enough untouched items for negatives, counting them in ``meta["skipped"]``."""
    config = config or TaskConfig()
    built = _build(dataset, config, on_error)
    examples, info = built.examples, built.info
    encode = _Encoder(built)
    referenced: set[str] = set()
    for rows in examples.values():
        for ex in rows:
            referenced.update(ex.candidates)
            u, start, end = built.windows[ex.example_id]
            referenced.update(x.item_id for x in built.logs[u][1][start:end])
    meta = {
        "source": dataset.name,
        "domain": dataset.domain,
        "has_timestamps": dataset.has_timestamps,
        "config": config.model_dump(),
        "counts": {s: len(examples[s]) for s in SPLITS},
        "discovery": {s: sum(ex.discovery for ex in examples[s]) for s in SPLITS},
        "users": len(dataset.histories),
        "users_with_examples": len({ex.user_id for rows in examples.values() for ex in rows}),
        "catalog_items": sum(1 for item in dataset.catalog if item.item_id in referenced),
        "global_time_cuts": info["cuts"],
        "skipped": info["skipped"],
    }
    with atomic_dir(out_dir, overwrite=overwrite, marker="meta.json") as tmp:
        for split in SPLITS:
            with (tmp / f"{split}.jsonl").open("w", encoding="utf-8") as fh:
                fh.writelines(encode(ex) for ex in examples[split])
        with (tmp / "catalog.jsonl").open("w", encoding="utf-8") as fh:
            for item in dataset.catalog:
                if item.item_id in referenced:
                    fh.write(json.dumps(item.to_json(), ensure_ascii=False) + "\n")
        write_json(tmp / "meta.json", meta)
    return meta


# --------------------------------------------------------------------------------- stats


def _describe(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "median": None, "min": None, "max": None}
    return {
        "mean": round(statistics.fmean(values), 2),
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def task_stats(tasks: TaskSet) -> dict[str, Any]:
    """Counts, history lengths and the discovery share per split."""
    splits = {}
    for name, rows in tasks.examples.items():
        n = len(rows)
        discovery = sum(ex.discovery for ex in rows)
        splits[name] = {
            "examples": n,
            "users": len({ex.user_id for ex in rows}),
            "history_length": _describe([len(ex.history) for ex in rows]),
            "discovery": discovery,
            "discovery_share": round(discovery / n, 4) if n else None,
            "distinct_targets": len({ex.target for ex in rows}),
            "candidates": _describe([len(ex.candidates) for ex in rows]),
        }
    return {
        "path": None if tasks.path is None else str(tasks.path),
        "source": tasks.meta.get("source"),
        "domain": tasks.domain,
        "catalog_items": len(tasks.catalog),
        "splits": splits,
        "skipped": tasks.meta.get("skipped", {}),
    }
