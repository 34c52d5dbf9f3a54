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

import random
from pathlib import Path
from typing import Any

from toolkit.errors import InputError
from toolkit.records import Catalog, Dataset, History
from toolkit.sources.base import SOURCES, ErrorPolicy, OnError, Source
from toolkit.sources.synthetic.catalog import make_catalog
from toolkit.sources.synthetic.config import GENRES, TAGS, SyntheticConfig, make_config
from toolkit.sources.synthetic.logs import (
    DEVICES,
    NOISE_KINDS,
    Unit,
    UserLog,
    group_sessions,
    slot_units,
)
from toolkit.sources.synthetic.tastes import Taste, user_taste


def generate(config: SyntheticConfig | None = None) -> tuple[Dataset, dict[str, Taste]]:
    """The data set and each user's latent taste (which a ``Dataset`` cannot hold)."""
    config = config or SyntheticConfig()
    titles = make_catalog(config)
    histories, tastes = [], {}
    lo, hi = config.history_length
    for index in range(config.n_users):
        user_id = f"u{index:05d}"
        taste_rng = random.Random(f"vtk-synthetic:{config.seed}:taste:{index}")
        taste = user_taste(config, titles.typical_tags, taste_rng)
        log = UserLog(config, titles, taste, index)
        units = slot_units(config, log.rng, log.rng.randint(lo, hi))
        for session in group_sessions(log.rng, units):
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


@SOURCES.register("synthetic")
class SyntheticSource(Source):
    """Generates its data: no files; a YAML ``SyntheticConfig`` may be given as ``path``."""

    name = "synthetic"
    domain = "streaming"
    options_model = SyntheticConfig

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


__all__ = [
    "DEVICES",
    "GENRES",
    "NOISE_KINDS",
    "TAGS",
    "SyntheticConfig",
    "SyntheticSource",
    "Taste",
    "Unit",
    "generate",
    "make_config",
]
