"""The synthetic catalog: films and series with readable titles, genres, tags and popularity."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from toolkit.records import Item
from toolkit.sources.synthetic.config import SyntheticConfig
from toolkit.sources.synthetic.urn import Urn

_ADJECTIVES = (
    "Silent", "Crimson", "Hidden", "Broken", "Golden", "Last", "Midnight", "Distant", "Iron",
    "Frozen", "Burning", "Hollow", "Wild", "Quiet", "Electric", "Forgotten", "Secret", "Lonely",
    "Bright", "Velvet", "Savage", "Gentle", "Restless", "Paper", "Glass", "Northern", "Sunken",
    "Little", "Endless", "Scarlet", "Shattered", "Lucky", "Wandering", "Bitter", "Rising",
    "Fallen", "Painted", "Stolen", "Hungry", "Brave", "Neon", "Pale", "Copper", "Eternal",
    "Crooked", "Tender", "Dark", "Second", "Open", "Invisible",
)  # fmt: skip
_NOUNS = (
    "Harbor", "Orbit", "Garden", "Kingdom", "Signal", "River", "Witness", "Mirror", "Summer",
    "Engine", "Island", "Letter", "Horizon", "Crown", "Shadow", "Promise", "Machine", "Forest",
    "Station", "Empire", "Frontier", "Sister", "Stranger", "Tide", "Lantern", "Circus",
    "Kitchen", "Verdict", "Planet", "Storm", "Bridge", "Voyage", "Village", "Thief", "Heart",
    "Compass", "Echo", "Fortress", "Meadow", "Season", "Secret", "Detective", "Dragon",
    "Highway", "Colony", "Symphony", "Winter", "Orchard", "Canyon", "Academy", "Ghost",
    "Galaxy", "Ember", "Archive", "Parade", "Tower", "Current", "Labyrinth", "Nomad", "Chorus",
)  # fmt: skip
_MOODS = (
    "gripping", "quiet", "sprawling", "warm", "dark", "playful", "tender", "relentless",
    "offbeat", "sweeping", "witty", "haunting",
)  # fmt: skip
_ROMAN = ("II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X")


@dataclass
class Titles:
    """The catalog plus the per-item facts the user loop reads by index."""

    items: list[Item]
    popularity: list[float]
    is_series: list[bool]
    runtime: list[int]
    """Minutes of a film or of one episode."""
    per_season: list[int]
    n_episodes: list[int]
    typical_tags: dict[str, list[str]]
    """The tags each genre's titles lean to (and its fans like)."""
    genre_index: dict[str, int]
    tag_index: dict[str, int]
    item_genres: Any
    """numpy (n, 3) genre indices, padded with an index whose weight is always zero."""
    item_tags: Any
    """numpy (n, 4) tag indices, padded likewise."""
    log_popularity: Any
    series: list[int] = field(init=False)
    previews: Urn = field(init=False)
    """Autoplay previews: popularity squared, whatever the taste."""
    by_genre: dict[str, Urn] = field(init=False)

    def __post_init__(self) -> None:
        everything = range(len(self.items))
        self.series = [i for i in everything if self.is_series[i]]
        self.previews = Urn([p * p for p in self.popularity])
        self.by_genre = {
            g: Urn(self.popularity, [i for i in everything if g in self.items[i].genres])
            for g in self.genre_index
        }

    def can_play(self, i: int, done: int) -> bool:
        """A film always; a series while episodes are left after ``done``."""
        return not self.is_series[i] or done < self.n_episodes[i]


def _title_maker(rng: random.Random) -> Callable[[], str]:
    """Readable titles, unique: adjective-noun patterns, then sequel numbers."""
    used: set[str] = set()

    def make() -> str:
        for _ in range(30):
            a, n, m = rng.choice(_ADJECTIVES), rng.choice(_NOUNS), rng.choice(_NOUNS)
            pattern = rng.random()
            if pattern < 0.45:
                title = f"The {a} {n}"
            elif pattern < 0.8 or n == m:
                title = f"{a} {n}"
            else:
                title = f"{n} of the {m}"
            if title not in used:
                break
        for suffix in itertools.chain(("",), _ROMAN, (str(i) for i in itertools.count(11))):
            name = f"{title} {suffix}".rstrip()
            if name not in used:
                used.add(name)
                return name
        raise AssertionError("unreachable")

    return make


def make_catalog(config: SyntheticConfig) -> Titles:
    import numpy as np

    rng = random.Random(f"vtk-synthetic:{config.seed}:catalog")
    genres, tags = list(config.genres), list(config.tags)
    genre_weights = [1 / math.sqrt(rank + 1) for rank in range(len(genres))]
    typical = {g: rng.sample(tags, min(6, len(tags))) for g in genres}
    title = _title_maker(rng)
    items, popularity, runtime, per_season, n_eps = [], [], [], [], []
    for i in range(config.n_films + config.n_series):
        series = i >= config.n_films
        k = rng.choices((1, 2, 3), (0.35, 0.45, 0.2))[0]
        chosen = rng.choices(genres, genre_weights)
        while len(chosen) < k:
            g = rng.choice(genres)
            if g not in chosen:
                chosen.append(g)
        item_tags: list[str] = []
        for _ in range(rng.randint(2, 4)):
            t = rng.choice(typical[rng.choice(chosen)] if rng.random() < 0.7 else tags)
            if t in item_tags:
                t = rng.choice([x for x in tags if x not in item_tags])
            item_tags.append(t)
        if series:
            seasons, episodes = rng.choice((1, 1, 1, 2, 2, 3, 4, 5)), rng.randint(6, 12)
            minutes = rng.randint(20, 50)
            year = max(1990, 2024 - int(rng.expovariate(1 / 7)))
        else:
            seasons, episodes, minutes = 0, 0, rng.randint(80, 140)
            year = max(1950, 2024 - int(rng.expovariate(1 / 12)))
        kind = "series" if series else "film"
        about = " and ".join(item_tags[:2])
        items.append(
            Item(
                item_id=f"s{i - config.n_films:04d}" if series else f"f{i:04d}",
                title=title(),
                year=year,
                genres=tuple(chosen),
                tags=tuple(item_tags),
                description=f"A {rng.choice(_MOODS)} {chosen[0].lower()} {kind} about {about}.",
                attrs={
                    "kind": kind,
                    "n_seasons": seasons if series else None,
                    "n_episodes": seasons * episodes if series else None,
                    "runtime": minutes,
                },
            )
        )
        popularity.append(round(rng.lognormvariate(0, 1.0), 6))
        runtime.append(minutes)
        per_season.append(episodes)
        n_eps.append(seasons * episodes)
    genre_index = {g: i for i, g in enumerate(genres)}
    tag_index = {t: i for i, t in enumerate(tags)}
    item_genres = np.full((len(items), 3), len(genres))
    item_tags_ = np.full((len(items), 4), len(tags))
    for i, x in enumerate(items):
        item_genres[i, : len(x.genres)] = [genre_index[g] for g in x.genres]
        item_tags_[i, : len(x.tags)] = [tag_index[t] for t in x.tags]
    return Titles(
        items=items,
        popularity=popularity,
        is_series=[x.attrs["kind"] == "series" for x in items],
        runtime=runtime,
        per_season=per_season,
        n_episodes=n_eps,
        typical_tags=typical,
        genre_index=genre_index,
        tag_index=tag_index,
        item_genres=item_genres,
        item_tags=item_tags_,
        log_popularity=np.log(np.array(popularity)),
    )
