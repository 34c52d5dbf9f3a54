"""What the synthetic generator draws: ``SyntheticConfig`` and its option checking."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from toolkit.errors import ConfigError

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
