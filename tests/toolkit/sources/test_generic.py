"""The ``jsonl``, ``csv`` and ``parquet`` readers and the row helpers the other readers share."""

from __future__ import annotations

import doctest
import json
from datetime import datetime, timezone

import pytest

import toolkit.sources.parsing as parsing
from tests.toolkit.sources.conftest import assert_names, write
from toolkit.errors import ConfigError, InputError
from toolkit.sources import get_source, read_source
from toolkit.sources.base import ErrorPolicy, RatingEvents

INTERACTIONS_CSV = """
user_id,item_id,timestamp,event,duration,device
u1,i9,1700000000,play,42.5,tv
u2,i1,2023-11-14T22:13:20Z,play,,phone
u1,i3,1700000000,skip,0.5,tv
u1,i1,1699999000,play,90,
"""
ITEMS_CSV = """
item_id,title,year,genres,tags,description,price
i1,"Heat, the remake",1995,Crime|Drama,heist,A film.,9.5
i3,Brazil,,Comedy,,,
i9,Alien,1979,Horror|Sci-Fi,space|classic,,
"""


def ts(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc).replace(tzinfo=None)


def test_doctests():
    assert doctest.testmod(parsing).failed == 0


def test_registered_under_three_names():
    assert {get_source(n).name for n in ("csv", "jsonl", "parquet")} == {"csv", "jsonl", "parquet"}


def test_csv_folder_values(tmp_path):
    write(tmp_path, "interactions.csv", INTERACTIONS_CSV)
    write(tmp_path, "items.csv", ITEMS_CSV)
    ds = read_source("csv", tmp_path)
    assert ds.name == "csv" and ds.has_timestamps and ds.skipped == {}
    assert [h.user_id for h in ds.histories] == ["u1", "u2"]
    u1 = ds.histories[0]
    # oldest first; i9 and i3 share a second and keep their file order (i9 before i3)
    assert u1.item_ids() == ["i1", "i9", "i3"]
    assert [x.timestamp for x in u1.interactions] == [
        ts(1699999000),
        ts(1700000000),
        ts(1700000000),
    ]
    assert [x.event for x in u1.interactions] == ["play", "play", "skip"]
    assert [x.duration for x in u1.interactions] == [90.0, 42.5, 0.5]
    assert u1.interactions[1].attrs == {"device": "tv"} and u1.interactions[0].attrs == {}
    u2 = ds.histories[1].interactions[0]
    assert u2.timestamp == ts(1700000000) and u2.duration is None  # ISO "Z" -> naive UTC
    heat = ds.catalog["i1"]
    assert (heat.title, heat.year, heat.genres, heat.tags) == (
        "Heat, the remake",
        1995,
        ("Crime", "Drama"),
        ("heist",),
    )
    assert heat.description == "A film." and heat.attrs == {"price": "9.5"}
    assert ds.catalog["i3"].year is None and ds.catalog["i3"].description is None
    assert ds.catalog["i9"].tags == ("space", "classic")


def test_jsonl_file_without_items_or_timestamps_keeps_file_order(tmp_path):
    rows = [
        {"uid": 7, "iid": "b", "rating": 5, "attrs": {"source": "app"}},
        {"uid": 7, "iid": "a", "rating": 1},
        {"uid": 8, "iid": "b", "rating": 3},
    ]
    file = write(tmp_path, "log.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    ds = read_source("jsonl", file, columns={"user": "uid", "item": "iid"}, domain="ecommerce")
    assert not ds.has_timestamps and ds.domain == "ecommerce"
    assert [(h.user_id, h.item_ids()) for h in ds.histories] == [("7", ["b", "a"]), ("8", ["b"])]
    first = ds.histories[0].interactions
    assert [x.event for x in first] == ["thumb_up", "thumb_down"]
    assert first[0].attrs == {"source": "app", "rating": 5.0} and first[0].timestamp is None
    assert ds.histories[1].interactions[0].event == "rated"
    assert [(i.item_id, i.title) for i in ds.catalog] == [("b", "b"), ("a", "a")]


def test_rating_events_option_and_default_event(tmp_path):
    file = write(tmp_path, "log.csv", "user_id,item_id,rating\nu,a,3\nu,b,\n")
    ds = read_source("csv", file, events={"thumb_up_min": 3, "up": "liked"}, default_event="view")
    assert [x.event for x in ds.histories[0].interactions] == ["liked", "view"]
    ds = read_source("csv", file, events=RatingEvents(thumb_down_max=3, down="meh"))
    assert ds.histories[0].interactions[0].event == "meh"


def test_parquet_matches_csv(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    write(tmp_path / "c", "interactions.csv", INTERACTIONS_CSV)
    write(tmp_path / "c", "items.csv", ITEMS_CSV)
    expected = read_source("csv", tmp_path / "c")
    stamps = [datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)] * 3
    stamps.insert(3, datetime(2023, 11, 14, 21, 56, 40, tzinfo=timezone.utc))
    log = pa.table(
        {
            "user_id": ["u1", "u2", "u1", "u1"],
            "item_id": ["i9", "i1", "i3", "i1"],
            "timestamp": pa.array(stamps, pa.timestamp("s", tz="UTC")),
            "event": ["play", "play", "skip", "play"],
            "duration": [42.5, None, 0.5, 90.0],
            "device": ["tv", "phone", "tv", None],
        }
    )
    items = pa.table(
        {
            "item_id": ["i1", "i3", "i9"],
            "title": ["Heat, the remake", "Brazil", "Alien"],
            "year": [1995, None, 1979],
            "genres": [["Crime", "Drama"], ["Comedy"], ["Horror", "Sci-Fi"]],
            "tags": [["heist"], [], ["space", "classic"]],
            "description": ["A film.", None, None],
            "price": ["9.5", None, None],
        }
    )
    (tmp_path / "p").mkdir()
    pq.write_table(log, tmp_path / "p" / "interactions.parquet")
    pq.write_table(items, tmp_path / "p" / "items.parquet")
    got = read_source("parquet", tmp_path / "p")
    assert got.histories == expected.histories
    assert list(got.catalog) == list(expected.catalog)


def test_timestamp_formats(tmp_path):
    file = write(tmp_path, "log.csv", "user_id,item_id,timestamp\nu,a,2024-03-02\nu,b,1700000000\n")
    ds = read_source("csv", file)
    assert [x.timestamp for x in ds.histories[0].interactions] == [
        datetime(2023, 11, 14, 22, 13, 20),
        datetime(2024, 3, 2),
    ]
    with pytest.raises(InputError) as err:
        read_source("csv", file, timestamp_format="unix")
    assert_names(err, "log.csv", 2, "timestamp")
    with pytest.raises(InputError) as err:
        read_source("csv", file, timestamp_format="iso")
    assert_names(err, "log.csv", 3, "timestamp")


def test_items_option_and_missing_files(tmp_path):
    log = write(tmp_path, "a/log.csv", "user_id,item_id\nu,i3\n")
    items = write(tmp_path, "b/movies.csv", ITEMS_CSV)
    ds = read_source("csv", log, items=items)
    assert ds.catalog["i3"].title == "Brazil" and len(ds.catalog) == 3
    with pytest.raises(InputError, match=r"interactions\.csv: required file is missing"):
        read_source("csv", tmp_path / "b")
    with pytest.raises(InputError, match=r"nope\.csv: required file is missing"):
        read_source("csv", log, items=tmp_path / "nope.csv")
    with pytest.raises(InputError, match="no such file"):
        read_source("csv", tmp_path / "absent")


def test_bad_options(tmp_path):
    file = write(tmp_path, "log.csv", "user_id,item_id\nu,a\n")
    with pytest.raises(ConfigError, match="unknown key"):
        read_source("csv", file, columns={"users": "u"})
    with pytest.raises(ConfigError, match="timestamp_format"):
        read_source("csv", file, timestamp_format="epoch")
    with pytest.raises(ConfigError, match="events"):
        read_source("csv", file, events={"thumb_up_min": "high"})


# (file written, content, line, field) for one bad row each; the error must name all three.
BAD_CSV = [
    ("interactions.csv", "user_id,item_id,timestamp\nu,a,1\nu,b\n", 3, "timestamp"),
    ("interactions.csv", "user_id,item_id,timestamp\nu,a,1\nu,b,1,9\n", 3, "#4 (extra)"),
    ("interactions.csv", "user_id,item_id,timestamp\nu,a,1\nu,b,soon\n", 3, "timestamp"),
    ("interactions.csv", "user_id,item_id,timestamp\nu,a,1\n,b,2\n", 3, "user_id"),
    ("interactions.csv", "user_id,item_id,timestamp\nu,a,1\nu,zz,2\n", 3, "item_id"),
    ("interactions.csv", "user_id,item_id,duration\nu,a,1\nu,a,-3\n", 3, "duration"),
    ("interactions.csv", b"user_id,item_id,event\nu,a,play\nu,b,pl\xffy\n", 3, "event"),
    ("items.csv", "item_id,title\na,A\nb,B\na,Again\n", 4, "item_id"),
    ("items.csv", "item_id,title,year\na,A,\nb,B,1990\nc,C,1990s\n", 4, "year"),
]


@pytest.mark.parametrize(("name", "content", "line", "field"), BAD_CSV)
def test_bad_csv_rows_name_file_line_and_field(tmp_path, name, content, line, field):
    write(tmp_path, "interactions.csv", "user_id,item_id\nu,a\nu,b\n")
    write(tmp_path, "items.csv", "item_id,title\na,A\nb,B\n")
    write(tmp_path, name, content)
    with pytest.raises(InputError) as err:
        read_source("csv", tmp_path)
    assert_names(err, name, line, field)
    ds = read_source("csv", tmp_path, on_error="skip")
    assert sum(ds.skipped.values()) == 1
    (reason,) = ds.skipped
    assert reason.startswith(f"{name}: {field}: ")
    if name == "interactions.csv":
        assert ds.histories[0].item_ids() == ["a"]


def test_skip_counts_group_by_reason(tmp_path):
    rows = "user_id,item_id,timestamp\n" + "".join(f"u,a,x{i}\n" for i in range(3)) + "u,a,5\n"
    file = write(tmp_path, "log.csv", rows)
    with pytest.raises(InputError, match=r"got 'x0'"):
        read_source("csv", file)
    ds = read_source("csv", file, on_error="skip")
    assert ds.skipped == {"log.csv: timestamp: not an ISO 8601 date or time": 3}
    assert len(ds.histories[0]) == 1


def test_bad_jsonl_lines(tmp_path):
    good = '{"user_id": "u", "item_id": "a"}\n'
    cases = [
        ('{"user_id": "u", "item_id": }\n', None, "invalid JSON"),
        ("[1, 2]\n", None, "expected a JSON object"),
        ('{"user_id": "u", "item_id": ["a"]}\n', "item_id", "must be a string or an integer"),
        (b'{"user_id": "u", "item_id": "\xe9"}\n', "item_id", "not valid utf-8"),
    ]
    for bad, field, message in cases:
        content = good.encode() + (bad if isinstance(bad, bytes) else bad.encode())
        file = write(tmp_path, "log.jsonl", content)
        with pytest.raises(InputError, match=message) as err:
            read_source("jsonl", file)
        problem = err.value.problems[0]
        assert (problem.file, problem.line, problem.field) == (str(file), 2, field)
        assert "log.jsonl:2:" in str(err.value)
        assert sum(read_source("jsonl", file, on_error="skip").skipped.values()) == 1


def test_empty_files_fail_even_under_skip(tmp_path):
    for name, content in [
        ("log.csv", ""),
        ("log.jsonl", "\n\n"),
        ("head.csv", "user_id,item_id\n"),
    ]:
        file = write(tmp_path, name, content)
        source = "jsonl" if name.endswith("jsonl") else "csv"
        with pytest.raises(InputError, match=rf"{name}: the file (is empty|has no rows)"):
            read_source(source, file, on_error="skip")


def test_every_row_skipped_is_an_error(tmp_path):
    file = write(tmp_path, "log.csv", "user_id,item_id,timestamp\nu,a,x\n")
    with pytest.raises(InputError, match=r"no usable interactions \(1 rows skipped\)"):
        read_source("csv", file, on_error="skip")


def test_unreadable_parquet(tmp_path):
    file = write(tmp_path, "log.parquet", b"PAR1 not really")
    with pytest.raises(InputError, match="not a readable Parquet file"):
        read_source("parquet", file)


def test_read_table_quoted_multiline_rows_keep_their_first_line(tmp_path):
    file = write(tmp_path, "t.csv", 'a,b\n1,"two\nlines"\n\n3,x\n')
    table = parsing.read_table(file, ErrorPolicy(), quoted=True)
    assert list(table.rows) == [(2, ["1", "two\nlines"]), (5, ["3", "x"])]


def test_paused_gc_restores_the_collector():
    import gc

    assert gc.isenabled()
    with pytest.raises(RuntimeError), parsing.paused_gc():
        assert not gc.isenabled()
        raise RuntimeError
    assert gc.isenabled()
    gc.disable()
    try:
        with parsing.paused_gc():
            pass
        assert not gc.isenabled()  # a caller's own pause is left alone
    finally:
        gc.enable()


def test_reader_called_directly_with_a_string_path(tmp_path):
    file = write(tmp_path, "log.jsonl", '{"user_id": "u", "item_id": "a", "attrs": "note"}\n')
    ds = get_source("jsonl")().read(str(file))
    assert ds.histories[0].interactions[0].attrs == {"attrs": "note"}
    with pytest.raises(InputError, match="give it a path"):
        get_source("jsonl")().read(None)
