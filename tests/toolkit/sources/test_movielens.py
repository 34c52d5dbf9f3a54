"""MovieLens 100K, 1M and latest readers on small files written here, plus the real ML-100K."""

from __future__ import annotations

import doctest
from datetime import datetime, timezone

import pytest

import toolkit.sources.movielens as movielens
from tests.toolkit.sources.conftest import assert_names, write
from toolkit.errors import ConfigError, InputError
from toolkit.sources import read_source

GENRES = "unknown|0\nAction|1\nComedy|2\nDrama|3\n\n"
ITEMS = (
    "1|Kolya (1996)|24-Jan-1997||http://us.imdb.com/M/title-exact?Kolya%20(1996)|0|0|1|0\n"
    "2|Heat (1995)|01-Jan-1995|||0|1|0|1\n"
    "3|unknown||||1|0|0|0\n"
    "4|Misérables, Les (1995)|01-Jan-1995|||0|0|0|1\n"
)
# user 7 rates 4, 2 and 1 in the same second (file order must survive), then 3 earlier
RATINGS = "7\t4\t5\t881250949\n7\t2\t2\t881250949\n7\t1\t3\t881250949\n9\t1\t4\t881250000\n"
RATINGS += "7\t3\t1\t881200000\n"


def ts(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc).replace(tzinfo=None)


def ml100k(folder, **files):
    defaults = {"u.genre": GENRES, "u.item": ITEMS, "u.data": RATINGS}
    for name, content in {**defaults, **files}.items():
        encoding = "latin-1" if name == "u.item" else "utf-8"
        write(folder, name, content, encoding=encoding)
    return folder


def test_doctests():
    assert doctest.testmod(movielens).failed == 0


def test_100k_values(tmp_path):
    ds = read_source("movielens-100k", ml100k(tmp_path))
    assert (ds.name, ds.domain, ds.has_timestamps, ds.skipped) == (
        "movielens-100k",
        "streaming",
        True,
        {},
    )
    kolya = ds.catalog["1"]
    assert (kolya.title, kolya.year, kolya.display_title) == ("Kolya", 1996, "Kolya (1996)")
    assert kolya.genres == ("Comedy",)
    assert kolya.attrs["release_date"] == "1997-01-24" and "imdb_url" in kolya.attrs
    assert ds.catalog["2"].genres == ("Action", "Drama")
    unknown = ds.catalog["3"]
    assert (unknown.title, unknown.year, unknown.genres, unknown.attrs) == ("unknown", None, (), {})
    assert ds.catalog["4"].display_title == "Misérables, Les (1995)"  # latin-1 decoded
    assert [h.user_id for h in ds.histories] == ["7", "9"]
    seven = ds.histories[0]
    assert seven.item_ids() == ["3", "4", "2", "1"]  # tie at 881250949 in file order, not by id
    assert [x.timestamp for x in seven.interactions] == [ts(881200000)] + [ts(881250949)] * 3
    assert [x.event for x in seven.interactions] == [
        "thumb_down",
        "thumb_up",
        "thumb_down",
        "rated",
    ]
    assert [x.attrs["rating"] for x in seven.interactions] == [1.0, 5.0, 2.0, 3.0]
    assert all(x.duration is None for x in seven.interactions)


def test_events_option(tmp_path):
    ds = read_source("movielens-100k", ml100k(tmp_path), events={"thumb_up_min": 5})
    assert [x.event for x in ds.histories[1].interactions] == ["rated"]  # a 4 is no longer "up"


def test_ratings_file_as_path(tmp_path):
    ds = read_source("movielens-100k", ml100k(tmp_path) / "u.data")
    assert len(ds.catalog) == 4


BAD_100K = [
    ("u.data", "7\t1\t5\t881250949\n7\t2\t5\n", 2, "timestamp"),
    ("u.data", "7\t1\t5\t881250949\nx7\t2\t5\t881250949\n", 2, "user_id"),
    ("u.data", "7\t1\t5\t881250949\n7\t2.0\t5\t881250949\n", 2, "item_id"),
    ("u.data", "7\t1\t5\t881250949\n7\t2\tfive\t881250949\n", 2, "rating"),
    ("u.data", "7\t1\t5\t881250949\n7\t2\t5\tnoon\n", 2, "timestamp"),
    ("u.data", "7\t1\t5\t881250949\n7\t99\t5\t881250949\n", 2, "item_id"),
    ("u.data", b"7\t1\t5\t881250949\n7\t2\t5\t88125\xff949\n", 2, "timestamp"),
    ("u.item", ITEMS + "2|Heat again (1995)||||0|0|0|0\n", 5, "item_id"),
    ("u.item", ITEMS + "5|Bad flags (1990)||||0|0|2|0\n", 5, "Comedy"),
    ("u.item", ITEMS + "6|Bad date (1990)|1990-01-01|||0|0|0|0\n", 5, "release_date"),
    ("u.item", ITEMS + "7|Short row (1990)||||0|0|0\n", 5, "Drama"),
    ("u.genre", GENRES + "Horror|four\n", 6, "index"),
]


@pytest.mark.parametrize(("name", "content", "line", "field"), BAD_100K)
def test_100k_bad_rows_name_file_line_and_field(tmp_path, name, content, line, field):
    folder = ml100k(tmp_path, **{name: content})
    with pytest.raises(InputError) as err:
        read_source("movielens-100k", folder)
    assert_names(err, name, line, field)
    ds = read_source("movielens-100k", folder, on_error="skip")
    assert list(ds.skipped.values()) == [1]
    assert next(iter(ds.skipped)).startswith(f"{name}: {field}: ")


def test_100k_genre_gap_and_missing_files(tmp_path):
    folder = ml100k(tmp_path, **{"u.genre": GENRES + "Horror|5\n"})
    with pytest.raises(InputError, match=r"u\.genre: genre indexes must run 0, 1, 2"):
        read_source("movielens-100k", folder, on_error="skip")
    for name in ("u.genre", "u.item", "u.data"):
        folder = ml100k(tmp_path / "missing" / name)
        (folder / name).unlink()
        with pytest.raises(InputError, match=rf"{name}: required file is missing"):
            read_source("movielens-100k", folder)


def test_100k_empty_file_fails_under_skip(tmp_path):
    with pytest.raises(InputError, match=r"u\.data: the file is empty"):
        read_source("movielens-100k", ml100k(tmp_path, **{"u.data": ""}), on_error="skip")


def test_100k_skip_counts_by_reason(tmp_path):
    bad = RATINGS + "7\t99\t5\t1\n8\t98\t5\t1\n8\t1\tfive\t1\n"
    ds = read_source("movielens-100k", ml100k(tmp_path, **{"u.data": bad}), on_error="skip")
    assert ds.skipped == {
        "u.data: item_id: item is not in the catalog (u.item)": 2,
        "u.data: rating: not a number": 1,
    }
    assert sum(len(h) for h in ds.histories) == 5


def test_1m(tmp_path):
    write(
        tmp_path,
        "movies.dat",
        "1::Toy Story (1995)::Animation|Children's|Comedy\n2::Misérables, Les (1995)::Drama\n",
        encoding="latin-1",
    )
    write(tmp_path, "ratings.dat", "1::2::5::978300760\n1::1::3::978300760\n2::1::2::978300000\n")
    ds = read_source("movielens-1m", tmp_path)
    toy = ds.catalog["1"]
    assert (toy.title, toy.year, toy.genres) == (
        "Toy Story",
        1995,
        ("Animation", "Children's", "Comedy"),
    )
    assert ds.catalog["2"].title == "Misérables, Les"
    assert [(h.user_id, h.item_ids()) for h in ds.histories] == [("1", ["2", "1"]), ("2", ["1"])]
    assert [x.event for x in ds.histories[0].interactions] == ["thumb_up", "rated"]
    write(tmp_path, "movies.dat", "1::Toy Story (1995)::Comedy\n1::Again (1995)::Drama\n")
    with pytest.raises(InputError) as err:
        read_source("movielens-1m", tmp_path)
    assert_names(err, "movies.dat", 2, "MovieID")


def test_latest_tags_and_quoting(tmp_path):
    write(
        tmp_path,
        "movies.csv",
        "movieId,title,genres\n"
        '1,"American President, The (1995)",Comedy|Drama|Romance\n'
        "2,Babylon 5,(no genres listed)\n",
    )
    write(
        tmp_path,
        "ratings.csv",
        "userId,movieId,rating,timestamp\n1,1,4.5,1000\n1,2,0.5,900\n2,2,3.0,5\n",
    )
    write(
        tmp_path,
        "tags.csv",
        "userId,movieId,tag,timestamp\n"
        "1,1,politics,1\n2,1,romance,2\n3,1,Romance,3\n1,1,funny,4\n4,1,politics,5\n5,1,aaa,6\n",
    )
    ds = read_source("movielens-latest", tmp_path, max_tags=3)
    president = ds.catalog["1"]
    assert (president.title, president.year) == ("American President, The", 1995)
    assert president.genres == ("Comedy", "Drama", "Romance")
    # two of each of the first two (case folded, first spelling kept), then first seen of ones
    assert president.tags == ("politics", "romance", "funny")
    assert (ds.catalog["2"].year, ds.catalog["2"].genres, ds.catalog["2"].tags) == (None, (), ())
    assert ds.histories[0].item_ids() == ["2", "1"]
    assert [x.attrs["rating"] for x in ds.histories[0].interactions] == [0.5, 4.5]
    assert read_source("movielens-latest", tmp_path, max_tags=0).catalog["1"].tags == ()
    with pytest.raises(ConfigError, match="max_tags"):
        read_source("movielens-latest", tmp_path, max_tags=-1)
    write(tmp_path, "tags.csv", "userId,movieId,tag,timestamp\n1,1,ok,1\n1,77,lost,2\n")
    with pytest.raises(InputError) as err:
        read_source("movielens-latest", tmp_path)
    assert_names(err, "tags.csv", 3, "movieId")
    (tmp_path / "tags.csv").unlink()  # optional
    write(tmp_path, "ratings.csv", "userId,movie,rating,timestamp\n1,1,4.5,1000\n")
    with pytest.raises(InputError, match="column 'movieId' is missing from the header"):
        read_source("movielens-latest", tmp_path)


@pytest.mark.data
def test_real_ml100k(shared_data):
    ds = read_source("movielens-100k", shared_data / "ml-100k")  # speed: data_bench.py
    assert len(ds.histories) == 943 and len(ds.catalog) == 1682
    assert sum(len(h) for h in ds.histories) == 100_000 and ds.skipped == {}
    assert ds.catalog["1"].display_title == "Toy Story (1995)"
    assert ds.catalog["1"].genres == ("Animation", "Children's", "Comedy")
    first = ds.histories[0]  # user 196: the first row of u.data
    assert first.user_id == "196"
    stamps = [x.timestamp for h in ds.histories for x in h.interactions]
    assert min(stamps) == ts(874724710) and max(stamps) == ts(893286638)
    assert all(
        a.timestamp <= b.timestamp
        for h in ds.histories
        for a, b in zip(h.interactions, h.interactions[1:], strict=False)
    )
