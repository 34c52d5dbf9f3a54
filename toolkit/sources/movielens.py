"""MovieLens 100K, 1M and latest (GroupLens): ratings become events, movies the catalog.

The three releases differ only in file layout; one ratings reader and one title parser
serve them all. Titles carry their year (``Kolya (1996)``): it moves to ``Item.year``,
and ``Item.display_title`` puts it back. A rating becomes an event through ``events``
(default: >= 4 ``thumb_up``, <= 2 ``thumb_down``, else ``rated``) and stays in
``attrs["rating"]``. Interactions that share a timestamp keep their file order (75% of
ML-100K rows share a (user, second) with another row).
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from toolkit.errors import ConfigError, InputError
from toolkit.records import Catalog, Dataset, Interaction, Item
from toolkit.sources.base import SOURCES, ErrorPolicy, OnError, RatingEvents, Source
from toolkit.sources.parsing import (
    RowError,
    Table,
    build_histories,
    integer_id,
    make_dataset,
    number,
    paused_gc,
    rating_events,
    read_table,
    report_row,
    require_file,
    require_path,
    unix_time,
)

_TITLE_YEAR = re.compile(r"^(?P<title>.*\S)\s*\((?P<year>\d{4})\)\s*$")
_NO_GENRES = {"", "unknown", "(no genres listed)"}


def split_title(text: str) -> tuple[str, int | None]:
    """Move a trailing ``(year)`` out of a MovieLens title.

    >>> split_title("Kolya (1996)")
    ('Kolya', 1996)
    >>> split_title("(500) Days of Summer (2009)")
    ('(500) Days of Summer', 2009)
    >>> split_title("Babylon 5")
    ('Babylon 5', None)
    """
    match = _TITLE_YEAR.match(text)
    if match is None:
        return text.strip(), None
    return match["title"], int(match["year"])


def _genres(names: list[str]) -> tuple[str, ...]:
    """Genres without the placeholders MovieLens uses for "none"."""
    return tuple(g for g in names if g.strip() not in _NO_GENRES)


class MovieLensSource(Source):
    """Shared reader: subclasses name the ratings file and read their own catalog."""

    domain = "streaming"
    ratings_file: ClassVar[str]
    ratings_sep: ClassVar[str]
    ratings_columns: ClassVar[tuple[str, str, str, str]]
    """user, item, rating, timestamp; headerless files use them as names."""
    ratings_header: ClassVar[bool] = False

    @abstractmethod
    def read_catalog(self, folder: Path, policy: ErrorPolicy, **options: Any) -> Catalog:
        """The movies, validated row by row."""

    def read(  # type: ignore[override]
        self,
        path: str | Path | None,
        *,
        on_error: OnError = "raise",
        events: RatingEvents | Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> Dataset:
        """Read the release's folder (or its ratings file)."""
        return self.read_release(path, on_error, events, name)

    def read_release(
        self,
        path: str | Path | None,
        on_error: OnError,
        events: RatingEvents | Mapping[str, Any] | None,
        name: str | None,
        **catalog_options: Any,
    ) -> Dataset:
        """What every release shares: the catalog first, then ratings checked against it."""
        path = require_path(path, self.name)
        folder = path.parent if path.is_file() else path
        mapping = rating_events(events)
        policy = ErrorPolicy(on_error)
        file = require_file(folder / self.ratings_file, f"{self.name} ratings")
        with paused_gc():
            catalog = self.read_catalog(folder, policy, **catalog_options)
            table = read_table(
                file,
                policy,
                sep=self.ratings_sep,
                columns=None if self.ratings_header else self.ratings_columns,
                quoted=self.ratings_header,
            )
            logs = _read_ratings(table, self.ratings_columns, catalog, mapping, policy)
            histories = build_histories(logs, by_time=True)
        return make_dataset(
            name or self.name,
            histories,
            catalog,
            policy,
            file,
            domain=self.domain,
            has_timestamps=True,
        )


def _read_ratings(
    table: Table,
    names: tuple[str, str, str, str],
    catalog: Catalog,
    events: RatingEvents,
    policy: ErrorPolicy,
) -> dict[str, list[Interaction]]:
    """Ratings by user in file order; the hot loop of every MovieLens read."""
    user_col, item_col, rating_col, time_col = names
    iu, ii, ir, it = (table.index(n) for n in names)
    where = f"item is not in the catalog ({_catalog_file(table.path)})"
    logs: dict[str, list[Interaction]] = {}
    for lineno, fields in table.rows:
        try:
            user = integer_id(fields[iu], user_col)
            item = integer_id(fields[ii], item_col)
            if item not in catalog:
                raise RowError(item_col, where, item)
            rating = number(fields[ir], rating_col)
            timestamp = unix_time(fields[it], time_col)
        except RowError as exc:
            report_row(policy, table.path, lineno, exc)
            continue
        x = Interaction(
            timestamp=timestamp,
            item_id=item,
            event=events.event(rating),
            duration=None,
            attrs={"rating": rating},
        )
        logs.setdefault(user, []).append(x)
    return logs


def _catalog_file(ratings: Path) -> str:
    return {"u.data": "u.item", "ratings.dat": "movies.dat"}.get(ratings.name, "movies.csv")


def _add(catalog: Catalog, item: Item, field: str) -> None:
    if item.item_id in catalog:
        raise RowError(field, "duplicate item id", item.item_id)
    catalog.add(item)


@SOURCES.register("movielens-100k")
class MovieLens100K(MovieLensSource):
    """MovieLens 100K: u.data (ratings), u.item (movies, genre flags), u.genre (flag names)."""

    name = "movielens-100k"
    ratings_file = "u.data"
    ratings_sep = "\t"
    ratings_columns = ("user_id", "item_id", "rating", "timestamp")

    def read_catalog(self, folder: Path, policy: ErrorPolicy, **options: Any) -> Catalog:
        genre_file = require_file(folder / "u.genre", "MovieLens 100K genre names")
        genres: dict[int, str] = {}
        genre_table = read_table(genre_file, policy, sep="|", columns=("name", "index"))
        for lineno, (genre, index) in genre_table.rows:
            try:
                position = int(integer_id(index, "index"))
                if position in genres:
                    raise RowError("index", "duplicate genre index", position)
            except RowError as exc:
                report_row(policy, genre_file, lineno, exc)
                continue
            genres[position] = genre.strip()
        if sorted(genres) != list(range(len(genres))):
            raise InputError.at("genre indexes must run 0, 1, 2, ... without gaps", genre_file)
        names = [genres[i] for i in range(len(genres))]
        file = require_file(folder / "u.item", "MovieLens 100K movies")
        columns = ("item_id", "title", "release_date", "video_release_date", "imdb_url", *names)
        catalog = Catalog()
        table = read_table(file, policy, sep="|", encoding="latin-1", columns=columns)
        for lineno, fields in table.rows:
            try:
                _add(catalog, _item_100k(fields, names), "item_id")
            except RowError as exc:
                report_row(policy, file, lineno, exc)
        return catalog


def _item_100k(fields: list[str], genre_names: list[str]) -> Item:
    item_id = integer_id(fields[0], "item_id")
    title, year = split_title(fields[1])
    if not title:
        raise RowError("title", "missing title")
    attrs: dict[str, Any] = {}
    if fields[2].strip():
        try:
            released = datetime.strptime(fields[2].strip(), "%d-%b-%Y")
        except ValueError:
            raise RowError("release_date", "not a date like 01-Jan-1995", fields[2]) from None
        attrs["release_date"] = released.date().isoformat()
    if fields[4].strip():
        attrs["imdb_url"] = fields[4].strip()
    flags = fields[5:]
    for genre, flag in zip(genre_names, flags, strict=True):
        if flag.strip() not in ("0", "1"):
            raise RowError(genre, "a genre flag must be 0 or 1", flag)
    on = [g for g, flag in zip(genre_names, flags, strict=True) if flag.strip() == "1"]
    return Item(item_id=item_id, title=title, year=year, genres=_genres(on), attrs=attrs)


def _item_from_genre_list(item_id: str, raw_title: str, genres: str) -> Item:
    title, year = split_title(raw_title)
    if not title:
        raise RowError("title", "missing title")
    return Item(item_id=item_id, title=title, year=year, genres=_genres(genres.split("|")))


@SOURCES.register("movielens-1m")
class MovieLens1M(MovieLensSource):
    """MovieLens 1M: ratings.dat and movies.dat (``::``-separated, latin-1); users.dat unused."""

    name = "movielens-1m"
    ratings_file = "ratings.dat"
    ratings_sep = "::"
    ratings_columns = ("UserID", "MovieID", "Rating", "Timestamp")

    def read_catalog(self, folder: Path, policy: ErrorPolicy, **options: Any) -> Catalog:
        file = require_file(folder / "movies.dat", "MovieLens 1M movies")
        table = read_table(
            file, policy, sep="::", encoding="latin-1", columns=("MovieID", "Title", "Genres")
        )
        catalog = Catalog()
        for lineno, (movie, title, genres) in table.rows:
            try:
                item = _item_from_genre_list(integer_id(movie, "MovieID"), title, genres)
                _add(catalog, item, "MovieID")
            except RowError as exc:
                report_row(policy, file, lineno, exc)
        return catalog


@SOURCES.register("movielens-latest")
class MovieLensLatest(MovieLensSource):
    """MovieLens latest (and latest-small): ratings.csv, movies.csv, optional tags.csv.

    Tags become ``Item.tags``, most frequent first (ties: first seen), at most ``max_tags``.
    """

    name = "movielens-latest"
    ratings_file = "ratings.csv"
    ratings_sep = ","
    ratings_columns = ("userId", "movieId", "rating", "timestamp")
    ratings_header = True

    def read(  # type: ignore[override]
        self,
        path: str | Path | None,
        *,
        on_error: OnError = "raise",
        events: RatingEvents | Mapping[str, Any] | None = None,
        max_tags: int = 10,
        name: str | None = None,
    ) -> Dataset:
        """Read the folder (or its ratings file); ``max_tags`` caps each movie's tags."""
        if isinstance(max_tags, bool) or not isinstance(max_tags, int) or max_tags < 0:
            raise ConfigError(f"max_tags must be a whole number >= 0, not {max_tags!r}")
        return self.read_release(path, on_error, events, name, max_tags=max_tags)

    def read_catalog(self, folder: Path, policy: ErrorPolicy, **options: Any) -> Catalog:
        file = require_file(folder / "movies.csv", "MovieLens movies")
        table = read_table(file, policy, quoted=True)
        im, it, ig = (table.index(n) for n in ("movieId", "title", "genres"))
        movies: list[Item] = []
        seen: set[str] = set()
        for lineno, fields in table.rows:
            try:
                movie = integer_id(fields[im], "movieId")
                item = _item_from_genre_list(movie, fields[it], fields[ig])
                if item.item_id in seen:
                    raise RowError("movieId", "duplicate item id", item.item_id)
            except RowError as exc:
                report_row(policy, file, lineno, exc)
                continue
            seen.add(item.item_id)
            movies.append(item)
        tags = _read_tags(folder / "tags.csv", seen, policy, options.get("max_tags", 10))
        return Catalog(
            m.model_copy(update={"tags": tags[m.item_id]}) if m.item_id in tags else m
            for m in movies
        )


def _read_tags(
    file: Path, movies: set[str], policy: ErrorPolicy, max_tags: int
) -> dict[str, tuple[str, ...]]:
    """Each movie's tags, most used first; spellings that differ only in case count as one."""
    if not file.is_file():
        return {}
    table = read_table(file, policy, quoted=True)
    im, it = table.index("movieId"), table.index("tag")
    counts: dict[str, Counter[str]] = {}
    spelling: dict[str, dict[str, str]] = {}
    for lineno, fields in table.rows:
        try:
            movie = integer_id(fields[im], "movieId")
            if movie not in movies:
                raise RowError("movieId", "item is not in the catalog (movies.csv)", movie)
        except RowError as exc:
            report_row(policy, file, lineno, exc)
            continue
        tag = fields[it].strip()
        if tag:
            key = tag.casefold()
            counts.setdefault(movie, Counter())[key] += 1
            spelling.setdefault(movie, {}).setdefault(key, tag)
    return {
        movie: tuple(spelling[movie][k] for k, _ in counter.most_common(max_tags))
        for movie, counter in counts.items()
    }
