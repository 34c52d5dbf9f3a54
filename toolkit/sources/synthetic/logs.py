"""One user's log: the kinds of its slots, their sessions, and the interactions written."""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta

from toolkit.records import Interaction
from toolkit.sources.synthetic.catalog import Titles
from toolkit.sources.synthetic.config import SyntheticConfig
from toolkit.sources.synthetic.tastes import Taste, random_weights, taste_weights
from toolkit.sources.synthetic.urn import Urn

DEVICES = ("tv", "mobile", "tablet", "web")
NOISE_KINDS = ("preview", "abandoned", "shared_account")
_HOUR_WEIGHTS = (2, 1, 0, 0, 0, 0, 1, 2, 1, 1, 1, 1, 2, 2, 1, 1, 2, 3, 5, 8, 10, 10, 7, 4)
_SHARED_HOUR_WEIGHTS = (0, 0, 0, 0, 0, 0, 0, 1, 3, 3, 2, 1, 1, 1, 2, 5, 6, 6, 4, 2, 1, 0, 0, 0)

Unit = tuple[str, int]
"""A run of history slots of one kind: ``("binge", 5)``, ``("play", 2)`` (play + thumb up)."""


def slot_units(config: SyntheticConfig, rng: random.Random, length: int) -> list[Unit]:
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


def group_sessions(rng: random.Random, units: list[Unit]) -> list[list[Unit]]:
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


class UserLog:
    """One user's log, written in time order, with what the user has touched so far."""

    def __init__(self, config: SyntheticConfig, titles: Titles, taste: Taste, index: int):
        self.config, self.titles, self.taste = config, titles, taste
        self.rng = random.Random(f"vtk-synthetic:{config.seed}:user:{index}")
        self.out: list[Interaction] = []
        self.touched: set[int] = set()
        self.watched: dict[int, None] = {}  # titles of signal plays, first-watched order
        self.progress: dict[int, int] = {}  # series -> episodes seen in signal plays
        self.co_progress: dict[int, int] = {}
        self.watchlist: list[int] = []
        weights = taste_weights(config, titles, taste, 1.0, config.popularity_weight)
        self.urn, self.series_urn = Urn(weights), Urn(weights, titles.series)
        self.device_cum = list(itertools.accumulate(random_weights(len(DEVICES), self.rng)))
        self.time = config.start + timedelta(days=self.rng.uniform(0, 28))
        self._off: Urn | None = None
        self._co: Urn | None = None

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
                self._off = Urn(taste_weights(self.config, t, self.taste, -1.0, 1.0))
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
            self._co = Urn(taste_weights(self.config, t, co, 1.0, self.config.popularity_weight))
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
