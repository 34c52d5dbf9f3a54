"""Latent tastes: what each user (and the co-viewer on the account) likes and dislikes."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from toolkit.records import Item
from toolkit.sources.synthetic.catalog import Titles
from toolkit.sources.synthetic.config import SyntheticConfig


@dataclass(frozen=True)
class Taste:
    """A user's latent taste: liked genres and tags (weights sum to 1), a disliked genre.

    >>> t = Taste(genres={"Drama": 1.0}, tags={"heist": 1.0}, disliked="Horror")
    >>> t.affinity(Item(item_id="1", title="T", genres=("Drama", "Horror"), tags=("heist",)))
    0.8
    """

    genres: dict[str, float]
    tags: dict[str, float]
    disliked: str | None = None
    tag_weight: float = 0.8
    dislike_penalty: float = 1.0
    co_viewer: Taste | None = None
    """The taste behind this account's shared-account sessions."""

    def score(self, genres: Sequence[str], tags: Sequence[str]) -> float:
        s = sum(self.genres.get(g, 0.0) for g in genres)
        s += self.tag_weight * sum(self.tags.get(t, 0.0) for t in tags)
        if self.disliked is not None and self.disliked in genres:
            s -= self.dislike_penalty
        return round(s, 12)

    def affinity(self, item: Item) -> float:
        """How much the user likes ``item``: the quantity the generator's softmax uses."""
        return self.score(item.genres, item.tags)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"genres": self.genres, "tags": self.tags, "disliked": self.disliked}
        if self.co_viewer is not None:
            out["co_viewer"] = self.co_viewer.to_json()
        return out


def random_weights(n: int, rng: random.Random) -> list[float]:
    raw = [rng.gammavariate(1.5, 1.0) for _ in range(n)]
    total = sum(raw)
    return [round(x / total, 3) for x in raw]


def _make_taste(
    config: SyntheticConfig,
    typical: dict[str, list[str]],
    rng: random.Random,
    liked: list[str],
    avoid: set[str],
) -> Taste:
    """Liked tags lean to the tags the liked genres carry, as real tastes cohere."""
    tags = list(config.tags)
    chosen: list[str] = []
    for _ in range(min(rng.randint(3, 5), len(tags))):
        t = rng.choice(typical[rng.choice(liked)] if rng.random() < 0.7 else tags)
        if t in chosen:
            t = rng.choice([x for x in tags if x not in chosen])
        chosen.append(t)
    others = [g for g in config.genres if g not in liked and g not in avoid]
    disliked = rng.choice(others) if others else None
    return Taste(
        genres=dict(zip(liked, random_weights(len(liked), rng), strict=True)),
        tags=dict(zip(chosen, random_weights(len(chosen), rng), strict=True)),
        disliked=disliked,
        tag_weight=config.tag_weight,
    )


def user_taste(config: SyntheticConfig, typical: dict[str, list[str]], rng: random.Random) -> Taste:
    """2-3 liked genres (common genres more often), and a co-viewer who likes others."""
    genres = list(config.genres)
    weights = [1 / math.sqrt(rank + 1) for rank in range(len(genres))]
    liked: list[str] = []
    n = rng.randint(2, 3)
    while len(liked) < n:
        g = rng.choices(genres, weights)[0]
        if g not in liked:
            liked.append(g)
    others = [g for g in config.shared_genres if g not in liked]
    if not others:
        rest = [g for g in genres if g not in liked]
        others = rng.sample(rest, min(2, len(rest)))
    co_viewer = _make_taste(config, typical, rng, others, set(liked))
    own = _make_taste(config, typical, rng, liked, set())
    return Taste(own.genres, own.tags, own.disliked, own.tag_weight, co_viewer=co_viewer)


def taste_weights(
    config: SyntheticConfig, titles: Titles, taste: Taste, sign: float, pop: float
) -> list[float]:
    """``exp(sign * sharpness * affinity) * popularity ** pop`` of every title (unnormalised);
    the numpy form of ``Taste.affinity`` for the whole catalog at once."""
    import numpy as np

    wg = np.zeros(len(config.genres) + 1)
    for g, w in taste.genres.items():
        wg[titles.genre_index[g]] += w
    if taste.disliked is not None:
        wg[titles.genre_index[taste.disliked]] -= taste.dislike_penalty
    wt = np.zeros(len(config.tags) + 1)
    for t, w in taste.tags.items():
        wt[titles.tag_index[t]] += taste.tag_weight * w
    affinity = wg[titles.item_genres].sum(1) + wt[titles.item_tags].sum(1)
    logits = sign * config.sharpness * affinity
    return np.exp(logits - logits.max() + pop * titles.log_popularity).tolist()
