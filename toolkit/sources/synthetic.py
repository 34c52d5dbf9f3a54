"""A seeded streaming log whose ground truth is known: latent tastes, signal and noise.

Every user has a latent ``Taste`` (liked genres and plot tags with weights, one disliked
genre). Signal interactions follow it: full plays of taste-matched films and episodes,
binge runs of one series, thumbs up, add-to-list, thumbs down on the disliked genre.
Noise does not: autoplay previews of popular titles (< 0.5 min), abandoned plays of
off-taste titles (1-6 min) and shared-account sessions of a co-viewer's taste (by default
Kids/Animation). Each interaction says which it is in ``attrs["signal"]`` and
``attrs["noise"]``, so a verbalizer's filtering can be checked against the truth.

Generation in three steps: a catalog (films, and series as ONE item each whose episodes are
interactions with ``season``/``episode`` attrs), then per user the kinds of the history's
slots (signal units and noise units, shuffled, grouped into sessions), then the items,
drawn in time order. The last ``n_targets`` interactions are signal plays of titles the user
never touched, drawn from a softmax over taste affinity: leave-last-out targets are
discoveries that depend on the taste. Every user has its own generator seeded by
``(seed, user index)``, so a user's log does not depend on how many users are generated.

>>> dataset, tastes = generate(SyntheticConfig(n_users=2, seed=1))
>>> [h.user_id for h in dataset.histories]
['u00000', 'u00001']
>>> sorted(dataset.histories[0].interactions[-1].attrs)
['device', 'episode', 'noise', 'season', 'signal']
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from toolkit.errors import ConfigError, InputError
from toolkit.records import Catalog, Dataset, History, Interaction, Item
from toolkit.sources.base import SOURCES, ErrorPolicy, OnError, Source

GENRES = (
    "Drama", "Comedy", "Sci-Fi", "Horror", "Documentary", "Animation",
    "Thriller", "Romance", "Crime", "Fantasy", "Action", "Kids",
)  # fmt: skip
TAGS = (
    "heist", "space", "time travel", "courtroom", "coming of age", "small town", "road trip",
    "revenge", "haunted house", "artificial intelligence", "survival", "family secrets",
    "high school", "undercover", "alien invasion", "dragons", "serial killer", "sports",
    "music", "war", "wedding", "zombies", "dystopia", "friendship", "treasure hunt",
    "political intrigue", "cooking", "superheroes", "talking animals", "true story",
)  # fmt: skip
DEVICES = ("tv", "mobile", "tablet", "web")
NOISE_KINDS = ("preview", "abandoned", "shared_account")

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
_HOUR_WEIGHTS = (2, 1, 0, 0, 0, 0, 1, 2, 1, 1, 1, 1, 2, 2, 1, 1, 2, 3, 5, 8, 10, 10, 7, 4)
_SHARED_HOUR_WEIGHTS = (0, 0, 0, 0, 0, 0, 0, 1, 3, 3, 2, 1, 1, 1, 2, 5, 6, 6, 4, 2, 1, 0, 0, 0)


class SyntheticConfig(BaseModel):
    """What the generator draws. ``read(**options)`` overrides these fields by name.

    Catalog: ``n_films``, ``n_series``, ``genres``, ``tags``. Users: ``n_users``,
    ``history_length`` (interactions before the ``n_targets`` final discovery plays).
    Noise, as expected fractions of the interactions before the targets: ``preview_rate``,
    ``abandon_rate``, ``shared_rate`` (in blocks of 2-6 plays by a co-viewer whose taste is
    ``shared_genres``). Signal: ``binge_rate`` (chance a signal unit is a 3-8 episode run),
    ``new_title_rate`` (chance a single play starts a title not touched before),
    ``thumb_up_rate`` (after a play), ``add_to_list_rate``, ``thumb_down_rate``. Taste:
    titles are drawn with probability ``exp(sharpness * affinity) * popularity **
    popularity_weight``; ``tag_weight`` scales the tags' share of the affinity.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    name: str = "synthetic"
    n_users: int = Field(300, ge=1)
    n_films: int = Field(400, ge=0)
    n_series: int = Field(80, ge=0)
    genres: tuple[str, ...] = GENRES
    tags: tuple[str, ...] = TAGS
    shared_genres: tuple[str, ...] = ("Kids", "Animation")
    history_length: tuple[int, int] = (20, 60)
    n_targets: int = Field(3, ge=0)
    preview_rate: float = Field(0.12, ge=0, le=0.5)
    abandon_rate: float = Field(0.08, ge=0, le=0.5)
    shared_rate: float = Field(0.08, ge=0, le=0.5)
    binge_rate: float = Field(0.15, ge=0, le=1)
    new_title_rate: float = Field(0.7, ge=0, le=1)
    thumb_up_rate: float = Field(0.3, ge=0, le=1)
    add_to_list_rate: float = Field(0.06, ge=0, le=0.5)
    thumb_down_rate: float = Field(0.04, ge=0, le=0.5)
    sharpness: float = Field(7.0, ge=0)
    popularity_weight: float = Field(0.3, ge=0)
    tag_weight: float = Field(0.8, ge=0)
    start: datetime = datetime(2024, 1, 1)
    mean_days_between_sessions: float = Field(1.5, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> SyntheticConfig:
        problems = []
        lo, hi = self.history_length
        if not 1 <= lo <= hi:
            problems.append("history_length must be (min, max) with 1 <= min <= max")
        if self.preview_rate + self.abandon_rate + self.shared_rate > 0.8:
            problems.append("preview_rate + abandon_rate + shared_rate must be at most 0.8")
        if self.add_to_list_rate + self.thumb_down_rate > 0.5:
            problems.append("add_to_list_rate + thumb_down_rate must be at most 0.5")
        for name in ("genres", "tags"):
            values = getattr(self, name)
            if len(set(values)) != len(values) or len(values) < 4:
                problems.append(f"{name} must hold at least 4 distinct names")
        unknown = sorted(set(self.shared_genres) - set(self.genres))
        if unknown:
            problems.append(f"shared_genres not in genres: {', '.join(unknown)}")
        if self.n_films + self.n_series < hi + self.n_targets + 20:
            problems.append("n_films + n_series must exceed history_length max + n_targets + 20")
        if problems:
            raise ValueError("; ".join(problems))
        return self


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


# --------------------------------------------------------------------------- catalog


@dataclass
class _Titles:
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
    previews: _Urn = field(init=False)
    """Autoplay previews: popularity squared, whatever the taste."""
    by_genre: dict[str, _Urn] = field(init=False)

    def __post_init__(self) -> None:
        everything = range(len(self.items))
        self.series = [i for i in everything if self.is_series[i]]
        self.previews = _Urn([p * p for p in self.popularity])
        self.by_genre = {
            g: _Urn(self.popularity, [i for i in everything if g in self.items[i].genres])
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


def _make_catalog(config: SyntheticConfig) -> _Titles:
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
    return _Titles(
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


class _Urn:
    """Weighted draws of item indices (all, or ``idx``); exclusions by rejection, then
    exactly, so a draw stays cheap until the user has touched most of the mass."""

    __slots__ = ("cum", "idx", "weights")

    def __init__(self, weights: Sequence[float], idx: list[int] | None = None):
        self.idx = list(range(len(weights))) if idx is None else idx
        self.weights = list(weights) if idx is None else [weights[i] for i in idx]
        self.cum = list(itertools.accumulate(self.weights))

    def draw(self, rng: random.Random, ok: Callable[[int], bool] | None = None) -> int | None:
        """One index, or None when the urn is empty or nothing passes ``ok``."""
        if not self.idx or self.cum[-1] <= 0:
            return None
        total, last = self.cum[-1], len(self.idx) - 1
        for _ in range(1 if ok is None else 48):
            i = self.idx[min(bisect.bisect_right(self.cum, rng.random() * total), last)]
            if ok is None or ok(i):
                return i
        allowed = [(i, w) for i, w in zip(self.idx, self.weights, strict=True) if ok(i)]
        if not allowed:
            return None
        return rng.choices([i for i, _ in allowed], [w for _, w in allowed])[0]

    def pick(self, rng: random.Random) -> int:
        """One index from an urn known to be non-empty (every title has weight > 0)."""
        found = self.draw(rng)
        if found is None:
            raise ValueError("empty urn")
        return found


# --------------------------------------------------------------------------- tastes


def _weights(n: int, rng: random.Random) -> list[float]:
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
        genres=dict(zip(liked, _weights(len(liked), rng), strict=True)),
        tags=dict(zip(chosen, _weights(len(chosen), rng), strict=True)),
        disliked=disliked,
        tag_weight=config.tag_weight,
    )


def _user_taste(
    config: SyntheticConfig, typical: dict[str, list[str]], rng: random.Random
) -> Taste:
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


def _taste_weights(
    config: SyntheticConfig, titles: _Titles, taste: Taste, sign: float, pop: float
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


# --------------------------------------------------------------------------- users

Unit = tuple[str, int]
"""A run of history slots of one kind: ``("binge", 5)``, ``("play", 2)`` (play + thumb up)."""


def _slot_units(config: SyntheticConfig, rng: random.Random, length: int) -> list[Unit]:
    """The history's units, shuffled. Each slot is noise with the configured rates, so the
    rates are fractions of the interactions; items are drawn later, in time order."""
    p1, p2, p3 = config.preview_rate, config.abandon_rate, config.shared_rate
    n_preview = n_abandoned = n_shared = 0
    for _ in range(length):
        u = rng.random()
        n_preview += u < p1
        n_abandoned += p1 <= u < p1 + p2
        n_shared += p1 + p2 <= u < p1 + p2 + p3
    units: list[Unit] = [("preview", 1)] * n_preview + [("abandoned", 1)] * n_abandoned
    left = n_shared
    while left > 0:
        size = min(rng.randint(2, 5), left)
        size += left - size == 1  # no lone leftover play
        units.append(("shared", size))
        left -= size
    left = length - n_preview - n_abandoned - n_shared
    binge, listed = config.binge_rate, config.binge_rate + config.add_to_list_rate
    down = listed + config.thumb_down_rate
    while left > 0:
        u = rng.random()
        if left >= 3 and u < binge:
            unit = ("binge", min(rng.randint(3, 8), left))
        elif binge <= u < listed:
            unit = ("add_to_list", 1)
        elif listed <= u < down:
            unit = ("thumb_down", 1)
        else:
            unit = ("play", 2 if left >= 2 and rng.random() < config.thumb_up_rate else 1)
        units.append(unit)
        left -= unit[1]
    rng.shuffle(units)
    return units


def _sessions(rng: random.Random, units: list[Unit]) -> list[list[Unit]]:
    """1-4 units a session; a binge run ends its session, a shared-account block is one."""
    sessions: list[list[Unit]] = []
    current: list[Unit] = []
    cap = rng.randint(1, 4)
    for unit in units:
        if unit[0] == "shared" and current:
            sessions.append(current)
            current = []
        current.append(unit)
        if unit[0] in ("shared", "binge") or len(current) >= cap:
            sessions.append(current)
            current, cap = [], rng.randint(1, 4)
    if current:
        sessions.append(current)
    return sessions


_HOURS = list(range(24))
_HOUR_CUM = list(itertools.accumulate(_HOUR_WEIGHTS))
_SHARED_HOUR_CUM = list(itertools.accumulate(_SHARED_HOUR_WEIGHTS))


class _UserLog:
    """One user's log, written in time order, with what the user has touched so far."""

    def __init__(self, config: SyntheticConfig, titles: _Titles, taste: Taste, index: int):
        self.config, self.titles, self.taste = config, titles, taste
        self.rng = random.Random(f"vtk-synthetic:{config.seed}:user:{index}")
        self.out: list[Interaction] = []
        self.touched: set[int] = set()
        self.watched: dict[int, None] = {}  # titles of signal plays, first-watched order
        self.progress: dict[int, int] = {}  # series -> episodes seen in signal plays
        self.co_progress: dict[int, int] = {}
        self.watchlist: list[int] = []
        weights = _taste_weights(config, titles, taste, 1.0, config.popularity_weight)
        self.urn, self.series_urn = _Urn(weights), _Urn(weights, titles.series)
        self.device_cum = list(itertools.accumulate(_weights(len(DEVICES), self.rng)))
        self.time = config.start + timedelta(days=self.rng.uniform(0, 28))
        self._off: _Urn | None = None
        self._co: _Urn | None = None

    def open_session(self, shared: bool = False) -> str:
        """Move the clock to a realistic hour some days on; return the session's device."""
        rng = self.rng
        gap = int(rng.expovariate(1 / self.config.mean_days_between_sessions))
        day = datetime.combine((self.time + timedelta(days=gap)).date(), datetime.min.time())
        cum = _SHARED_HOUR_CUM if shared else _HOUR_CUM
        earliest = self.time + timedelta(minutes=30)
        while True:
            hour = rng.choices(_HOURS, cum_weights=cum)[0]
            start = day + timedelta(hours=hour, minutes=int(rng.random() * 60))
            if start >= earliest:
                break
            day += timedelta(days=1)
        self.time = start
        if shared:
            return rng.choice(("tv", "tablet", "tablet"))
        return rng.choices(DEVICES, cum_weights=self.device_cum)[0]

    def emit(
        self,
        item: int,
        event: str,
        duration: float | None,
        device: str,
        noise: str | None = None,
        episode: int | None = None,
    ) -> None:
        """Append one interaction (``episode`` counts from 0 across seasons) and advance."""
        season = None
        if episode is not None:
            per = self.titles.per_season[item]
            season, episode = episode // per + 1, episode % per + 1
        attrs = {
            "device": device,
            "signal": noise is None,
            "noise": noise,
            "season": season,
            "episode": episode,
        }
        self.out.append(
            Interaction.model_construct(
                timestamp=self.time,
                item_id=self.titles.items[item].item_id,
                event=event,
                duration=duration,
                attrs=attrs,
            )
        )
        self.touched.add(item)
        self.time += timedelta(seconds=int((duration or 0) * 60) + 5 + int(self.rng.random() * 85))

    # -- what the user picks
    def left(self, i: int) -> int:
        return self.titles.n_episodes[i] - self.progress.get(i, 0)

    def playable(self, i: int) -> bool:
        return self.titles.can_play(i, self.progress.get(i, 0))

    def new_title(self) -> int | None:
        return self.urn.draw(self.rng, lambda i: i not in self.touched)

    def play_item(self) -> int | None:
        """The watchlist, a new title, the next episode of a started series, or a rewatch."""
        rng = self.rng
        if self.watchlist and rng.random() < 0.5:
            item = self.watchlist.pop(0)
            if self.playable(item):
                return item
        if rng.random() < self.config.new_title_rate or not self.watched:
            found = self.new_title()
            if found is not None:
                return found
        started = [i for i in self.watched if self.titles.is_series[i] and self.left(i) > 0]
        if started and rng.random() < 0.6:
            return rng.choice(started)
        again = [i for i in self.watched if self.playable(i)]
        if not again:
            return self.new_title()
        return rng.choices(again, [self.urn.weights[i] for i in again])[0]

    # -- units
    def full_play(self, item: int, device: str) -> None:
        t, rng = self.titles, self.rng
        if t.is_series[item]:
            done = self.progress.get(item, 0)
            self.progress[item] = done + 1
            minutes = round(t.runtime[item] * rng.uniform(0.9, 1.0), 1)
            self.emit(item, "play", minutes, device, episode=done)
        else:
            self.emit(item, "play", round(t.runtime[item] * rng.uniform(0.85, 1.0), 1), device)
        self.watched[item] = None

    def unit(self, kind: str, size: int, device: str) -> None:
        rng, t = self.rng, self.titles
        if kind == "preview":
            minutes = round(rng.uniform(0.05, 0.45), 2)
            self.emit(t.previews.pick(rng), "play", minutes, device, "preview")
        elif kind == "abandoned":
            if self._off is None:
                self._off = _Urn(_taste_weights(self.config, t, self.taste, -1.0, 1.0))
            item = self._off.pick(rng)
            done = self.progress.get(item, 0)
            episode = (done if t.can_play(item, done) else 0) if t.is_series[item] else None
            minutes = round(rng.uniform(1.0, 6.0), 1)
            self.emit(item, "play", minutes, device, "abandoned", episode)
        elif kind == "shared":
            self.shared_block(size, device)
        elif kind == "binge":
            self.binge(size, device)
        elif kind == "add_to_list":
            found = self.new_title()
            if found is not None:
                self.emit(found, "add_to_list", None, device)
                self.watchlist.append(found)
        elif kind == "thumb_down":
            urn = t.by_genre.get(self.taste.disliked or "")
            found = None if urn is None else urn.draw(rng)
            if found is not None:
                self.emit(found, "thumb_down", None, device)
        else:
            found = self.play_item()
            if found is not None:
                self.full_play(found, device)
                if size == 2:
                    self.emit(found, "thumb_up", None, device)

    def shared_block(self, size: int, device: str) -> None:
        """Someone else on the account: full plays that follow the co-viewer's taste."""
        t, rng = self.titles, self.rng
        if self._co is None:
            co = self.taste.co_viewer or self.taste
            self._co = _Urn(_taste_weights(self.config, t, co, 1.0, self.config.popularity_weight))
        for _ in range(size):
            item = self._co.pick(rng)
            episode = None
            if t.is_series[item]:
                episode = self.co_progress.get(item, 0) % t.n_episodes[item]
                self.co_progress[item] = episode + 1
            minutes = round(t.runtime[item] * rng.uniform(0.85, 1.0), 1)
            self.emit(item, "play", minutes, device, "shared_account", episode)

    def binge(self, size: int, device: str) -> None:
        """Consecutive episodes of one series: a started one, or a new one to the taste."""
        rng = self.rng
        started = [i for i in self.watched if self.titles.is_series[i] and self.left(i) >= 3]
        if started and rng.random() < 0.5:
            item: int | None = rng.choice(started)
        else:
            item = self.series_urn.draw(rng, lambda i: self.left(i) >= 3)
        if item is not None:
            for _ in range(min(size, self.left(item))):
                self.full_play(item, device)

    def targets(self, n: int) -> None:
        """The final plays: titles never touched, each in a session of its own."""
        for _ in range(n):
            found = self.new_title()
            if found is not None:
                self.full_play(found, self.open_session())


def generate(config: SyntheticConfig | None = None) -> tuple[Dataset, dict[str, Taste]]:
    """The data set and each user's latent taste (which a ``Dataset`` cannot hold)."""
    config = config or SyntheticConfig()
    titles = _make_catalog(config)
    histories, tastes = [], {}
    lo, hi = config.history_length
    for index in range(config.n_users):
        user_id = f"u{index:05d}"
        taste_rng = random.Random(f"vtk-synthetic:{config.seed}:taste:{index}")
        taste = _user_taste(config, titles.typical_tags, taste_rng)
        log = _UserLog(config, titles, taste, index)
        for session in _sessions(log.rng, _slot_units(config, log.rng, log.rng.randint(lo, hi))):
            device = log.open_session(shared=session[0][0] == "shared")
            for kind, size in session:
                log.unit(kind, size, device)
        log.targets(config.n_targets)
        histories.append(History.model_construct(user_id=user_id, interactions=tuple(log.out)))
        tastes[user_id] = taste
    dataset = Dataset(
        name=config.name, histories=histories, catalog=Catalog(titles.items), domain="streaming"
    )
    return dataset, tastes


def make_config(base: SyntheticConfig | None = None, **options: Any) -> SyntheticConfig:
    """``base`` with ``options`` on top; every unknown or invalid option reported at once."""
    data = {**(base.model_dump() if base else {}), **options}
    try:
        return SyntheticConfig.model_validate(data)
    except ValidationError as exc:
        unknown = sorted(str(e["loc"][0]) for e in exc.errors() if e["type"] == "extra_forbidden")
        lines = []
        if unknown:
            known = ", ".join(SyntheticConfig.model_fields)
            lines.append(f"unknown option(s) {', '.join(unknown)}; known: {known}")
        for e in exc.errors():
            if e["type"] != "extra_forbidden":
                loc = ".".join(str(p) for p in e["loc"]) or "options"
                lines.append(f"option '{loc}': {e['msg']}")
        raise ConfigError("synthetic: " + "\n".join(lines)) from None


@SOURCES.register("synthetic")
class SyntheticSource(Source):
    """Generates its data: no files; a YAML ``SyntheticConfig`` may be given as ``path``."""

    name = "synthetic"
    domain = "streaming"

    def read(  # type: ignore[override]
        self, path: str | Path | None = None, *, on_error: OnError = "raise", **options: Any
    ) -> Dataset:
        """Generate the data set; ``options`` are ``SyntheticConfig`` fields."""
        ErrorPolicy(on_error)  # validates the value; generated rows never fail
        base = None
        if path is not None:
            path = Path(path)
            if path.suffix not in (".yaml", ".yml") or not path.is_file():
                raise InputError.at(
                    "the synthetic source reads no data: give no path, or a YAML file of "
                    "SyntheticConfig fields",
                    path,
                )
            from toolkit.config import load_config

            base = load_config(SyntheticConfig, path)
        return generate(make_config(base, **options))[0]
