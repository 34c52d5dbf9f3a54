"""Non-LLM baselines that put LLM numbers in context: random, popularity, co-occurrence.

Each is fitted on the train split's histories and targets (never on what is evaluated)
and scores the candidates of one example. Ties are broken by a seeded random jitter
smaller than any gap between scores, never by position: candidate order is part of the
saved task, and a position rule would leak it.
"""

from __future__ import annotations

import itertools
import math
import random
from abc import ABC, abstractmethod
from collections import Counter, OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from toolkit.records import Catalog
from toolkit.registry import Registry
from toolkit.tasks import RerankExample, example_rng

if TYPE_CHECKING:
    import numpy as np


def break_ties(scores: Sequence[float], rng: random.Random) -> list[float]:
    """Add jitter below half the smallest gap between distinct scores: order kept,
    ties resolved at random.

    >>> s = break_ties([1.0, 1.0, 3.0], random.Random(0))
    >>> s[2] > max(s[:2]) and s[0] != s[1]
    True
    """
    finite = sorted({s for s in scores if math.isfinite(s)})
    gap = min((b - a for a, b in itertools.pairwise(finite)), default=1.0)
    return [s + rng.random() * gap * 0.5 for s in scores]


def _user_items(train: Sequence[RerankExample]) -> dict[str, set[str]]:
    """Each train user's items: the union of their train histories and targets. Histories
    of one user overlap, so counting per user avoids counting one interaction many times."""
    items: dict[str, set[str]] = {}
    for ex in train:
        seen = items.setdefault(ex.user_id, set())
        seen.update(ex.history.item_ids())
        seen.add(ex.target)
    return items


class Baseline(ABC):
    """Fit on train examples, then score each candidate of an example (higher = better)."""

    name: ClassVar[str]

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fit(self, train: Sequence[RerankExample], catalog: Catalog) -> Baseline:
        return self

    @abstractmethod
    def raw_scores(self, example: RerankExample) -> list[float]:
        """Scores before tie-breaking."""

    def score(self, example: RerankExample) -> list[float]:
        rng = example_rng(self.seed, f"{self.name}:{example.example_id}")
        return break_ties(self.raw_scores(example), rng)

    def score_batch(self, examples: Sequence[RerankExample]) -> list[list[float]]:
        return [self.score(ex) for ex in examples]


BASELINES: Registry[type[Baseline]] = Registry("baseline", group="vtk.baselines")


@BASELINES.register("random")
class RandomBaseline(Baseline):
    """Chance: all candidates tie, the seeded tie-break decides (Recall@1 = 1/10)."""

    name = "random"

    def raw_scores(self, example: RerankExample) -> list[float]:
        return [0.0] * len(example.candidates)


@BASELINES.register("popularity")
class PopularityBaseline(Baseline):
    """How many train users touched each candidate."""

    name = "popularity"

    def fit(self, train: Sequence[RerankExample], catalog: Catalog) -> PopularityBaseline:
        self.counts = Counter(i for items in _user_items(train).values() for i in items)
        return self

    def raw_scores(self, example: RerankExample) -> list[float]:
        return [float(self.counts.get(c, 0)) for c in example.candidates]


@BASELINES.register("cooccurrence")
class CooccurrenceBaseline(Baseline):
    """Item-kNN: cosine similarity of items over train users (co-occurrence count divided
    by the square root of both items' user counts); a candidate scores the sum of its
    similarities to the last ``last_k`` history items, weighted ``decay ** age``."""

    name = "cooccurrence"

    def __init__(self, seed: int = 0, last_k: int = 20, decay: float = 0.9, cache: int = 2048):
        super().__init__(seed)
        self.last_k = last_k
        self.decay = decay
        self.cache_size = cache

    def fit(self, train: Sequence[RerankExample], catalog: Catalog) -> CooccurrenceBaseline:
        import numpy as np

        users = _user_items(train)
        self.index: dict[str, int] = {}
        for items in users.values():
            for item in sorted(items):
                self.index.setdefault(item, len(self.index))
        self.user_items = [
            np.fromiter((self.index[i] for i in items), dtype=np.int64, count=len(items))
            for items in users.values()
        ]
        item_users: list[list[int]] = [[] for _ in self.index]
        for u, items in enumerate(self.user_items):
            for i in items.tolist():
                item_users[i].append(u)
        self.item_users = [np.asarray(x, dtype=np.int64) for x in item_users]
        self.degree = np.array([len(x) for x in item_users], dtype=float)
        self._rows: OrderedDict[int, np.ndarray] = OrderedDict()
        return self

    def similarities(self, item: int) -> np.ndarray:
        """Cosine similarity of ``item`` (an index) to every item; cached, LRU."""
        import numpy as np

        row = self._rows.get(item)
        if row is not None:
            self._rows.move_to_end(item)
            return row
        users = self.item_users[item]
        co = np.bincount(
            np.concatenate([self.user_items[u] for u in users.tolist()]),
            minlength=len(self.index),
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            row = np.nan_to_num(co / np.sqrt(self.degree[item] * self.degree)).astype(np.float32)
        self._rows[item] = row
        if len(self._rows) > self.cache_size:
            self._rows.popitem(last=False)
        return row

    def raw_scores(self, example: RerankExample) -> list[float]:
        recent = example.history.item_ids()[-self.last_k :][::-1]
        hist = [(self.index[i], self.decay**age) for age, i in enumerate(recent) if i in self.index]
        scores = []
        for c in example.candidates:
            if c not in self.index or not hist:
                scores.append(0.0)
                continue
            row = self.similarities(self.index[c])
            scores.append(float(sum(w * row[i] for i, w in hist)))
        return scores
