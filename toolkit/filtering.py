"""Which interactions a verbalization kept, and how often it dropped noise vs signal.

One place for the question the synthetic generator makes answerable: every interaction it
writes says in ``attrs["signal"]`` whether it follows the user's taste, so a verbalizer's
filtering can be scored against the truth. Used by the experiment's strategy table and,
per step, by Stage 1's training metrics.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from toolkit.records import Catalog, History


def kept_indices(meta: Mapping[str, Any], history: History, catalog: Catalog) -> set[int]:
    """Indices of the interactions a verbalization kept: an action program's ``kept``; for a
    structured rewrite, the interactions whose titles it names; otherwise all of them."""
    n = len(history)
    if "rewrite" in meta:
        titles = {a["title"] for a in meta["rewrite"].get("aggregated_items", [])}
        return {
            i
            for i, x in enumerate(history.interactions)
            if (item := catalog.get(x.item_id)) is not None and item.display_title in titles
        }
    return set(meta.get("kept", range(n)))


@dataclass
class DropCounts:
    """Dropped / seen interactions flagged noise and signal (``None`` rates: none seen)."""

    noise_dropped: int = 0
    noise_seen: int = 0
    signal_dropped: int = 0
    signal_seen: int = 0

    def add(self, kept: set[int], history: History) -> None:
        for i, x in enumerate(history.interactions):
            flag = x.attrs.get("signal")
            if flag is None:
                continue
            if flag:
                self.signal_seen += 1
                self.signal_dropped += i not in kept
            else:
                self.noise_seen += 1
                self.noise_dropped += i not in kept

    @property
    def noise_rate(self) -> float | None:
        return self.noise_dropped / self.noise_seen if self.noise_seen else None

    @property
    def signal_rate(self) -> float | None:
        return self.signal_dropped / self.signal_seen if self.signal_seen else None


def drop_counts(
    metas: Iterable[Mapping[str, Any]], histories: Iterable[History], catalog: Catalog
) -> DropCounts:
    """Noise and signal drop counts over paired (verbalization meta, history) rows.

    >>> from toolkit.records import Interaction
    >>> h = History(user_id="u", interactions=[
    ...     Interaction(item_id="a", event="play", attrs={"signal": True}),
    ...     Interaction(item_id="b", event="play", attrs={"signal": False})])
    >>> c = drop_counts([{"kept": [0]}], [h], Catalog())
    >>> (c.noise_rate, c.signal_rate)
    (1.0, 0.0)
    """
    counts = DropCounts()
    for meta, history in zip(metas, histories, strict=True):
        counts.add(kept_indices(meta, history, catalog), history)
    return counts
