"""A small streaming catalog and history with the noise the DSL exists for: a preview,
a binge run of one series, an abandoned play, an item missing from the catalog."""

from __future__ import annotations

from datetime import datetime

import pytest

from toolkit.records import Catalog, History, Interaction, Item


def make_catalog() -> Catalog:
    return Catalog(
        [
            Item(item_id="k", title="Kolya", year=1996, genres=("Comedy", "Drama")),
            Item(
                item_id="bb",
                title="Breaking Bad",
                year=2008,
                genres=("Crime", "Drama"),
                tags=("chemistry", "antihero"),
                description="A chemistry teacher turns to crime.",
            ),
            Item(item_id="p1", title="Pilot", attrs={"series": "Lost"}),
            Item(item_id="p2", title="Walkabout", attrs={"series": "Lost"}),
            Item(item_id="h", title="Heat", year=1995, attrs={"price": 9.5}),
        ]
    )


def ep(day: int, season: int, episode: int) -> Interaction:
    return Interaction(
        timestamp=datetime(2024, 3, day, 21),
        item_id="bb",
        event="play",
        duration=47.0,
        attrs={"season": season, "episode": episode},
    )


def make_history() -> History:
    xs = (
        Interaction(timestamp=datetime(2024, 3, 1, 20), item_id="k", event="preview", duration=0.3),
        ep(1, 1, 1),
        ep(2, 1, 2),
        ep(2, 1, 3),
        Interaction(timestamp=datetime(2024, 3, 3, 9), item_id="h", event="abandon", duration=4.2),
        ep(3, 1, 4),
        Interaction(
            timestamp=datetime(2024, 3, 5, 21), item_id="k", event="thumb_up", duration=95.4
        ),
        Interaction(item_id="zz", event="play"),
    )
    return History(user_id="u1", interactions=xs)


@pytest.fixture
def catalog() -> Catalog:
    return make_catalog()


@pytest.fixture
def history() -> History:
    return make_history()
