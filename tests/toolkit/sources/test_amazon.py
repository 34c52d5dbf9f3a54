"""The LLMRank Amazon reader on small ``.inter``/``.item`` files, plus the real Games-6k."""

from __future__ import annotations

import pytest

from tests.toolkit.sources.conftest import assert_names, write
from toolkit.errors import ConfigError, InputError
from toolkit.sources import read_source

ITEM = "item_id:token\ttitle:token_seq\n0\tFire Emblem\n1\tCare Case\n2\tZelda\n3\tHalo\n"
INTER_HEADER = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
INTER = INTER_HEADER + "0\t0 1 2\t3\n1\t3 0\t2\n2\t2\t1\n"


def folder_with(tmp_path, inter=INTER, item=ITEM, inter_name="Games.test.inter"):
    write(tmp_path, "Games.item", item)
    write(tmp_path, inter_name, inter)
    return tmp_path


def test_values(tmp_path):
    ds = read_source("amazon-llmrank", folder_with(tmp_path))
    assert (ds.name, ds.domain, ds.has_timestamps, ds.skipped) == (
        "amazon-llmrank",
        "ecommerce",
        False,
        {},
    )
    assert [(h.user_id, h.item_ids()) for h in ds.histories] == [
        ("0", ["0", "1", "2", "3"]),  # the history list, then the next item
        ("1", ["3", "0", "2"]),
        ("2", ["2", "1"]),
    ]
    xs = [x for h in ds.histories for x in h.interactions]
    assert {(x.event, x.timestamp, x.duration) for x in xs} == {("purchase", None, None)}
    assert [i.title for i in ds.catalog] == ["Fire Emblem", "Care Case", "Zelda", "Halo"]


def test_max_users_keeps_the_first_users(tmp_path):
    ds = read_source("amazon-llmrank", folder_with(tmp_path), max_users=2)
    assert [h.user_id for h in ds.histories] == ["0", "1"]
    assert len(ds.catalog) == 4
    with pytest.raises(ConfigError, match="max_users"):
        read_source("amazon-llmrank", tmp_path, max_users=0)


def test_splits_and_file_paths(tmp_path):
    folder = folder_with(tmp_path)
    write(folder, "Games.valid.inter", INTER_HEADER + "5\t0\t1\n")
    with pytest.raises(InputError, match=r"Games\.test\.inter, Games\.valid\.inter.*split"):
        read_source("amazon-llmrank", folder)
    assert [h.user_id for h in read_source("amazon-llmrank", folder, split="valid").histories] == [
        "5"
    ]
    with pytest.raises(InputError, match=r"one \*\.train\.inter file"):
        read_source("amazon-llmrank", folder, split="train")
    ds = read_source("amazon-llmrank", folder / "Games.test.inter")
    assert len(ds.histories) == 3


def test_repeated_users_keep_their_longest_row(tmp_path):
    inter = INTER_HEADER + "0\t0\t1\n0\t0 1\t2\n1\t3\t0\n0\t0 1 2\t3\n"
    ds = read_source("amazon-llmrank", folder_with(tmp_path, inter=inter))
    assert [(h.user_id, h.item_ids()) for h in ds.histories] == [
        ("0", ["0", "1", "2", "3"]),
        ("1", ["3", "0"]),
    ]


BAD = [
    ("Games.test.inter", INTER + "3\t0 9 1\t2\n", 5, "item_id_list:token_seq"),
    ("Games.test.inter", INTER + "3\t0 1\t9\n", 5, "item_id:token"),
    ("Games.test.inter", INTER + "3\t0 1\n", 5, "item_id:token"),
    ("Games.test.inter", INTER + "3\t0 1\t2\t4\n", 5, "#4 (extra)"),
    ("Games.test.inter", INTER + "\t0 1\t2\n", 5, "user_id:token"),
    ("Games.test.inter", INTER.encode() + b"3\t0 \xc3\t1\n", 5, "item_id_list:token_seq"),
    ("Games.item", ITEM + "2\tZelda again\n", 6, "item_id:token"),
    ("Games.item", ITEM + "4\t\n", 6, "title:token_seq"),
]


@pytest.mark.parametrize(("name", "content", "line", "field"), BAD)
def test_bad_rows_name_file_line_and_field(tmp_path, name, content, line, field):
    folder = folder_with(tmp_path)
    write(folder, name, content)
    with pytest.raises(InputError) as err:
        read_source("amazon-llmrank", folder)
    assert_names(err, name, line, field)
    ds = read_source("amazon-llmrank", folder, on_error="skip")
    (reason,) = ds.skipped
    assert ds.skipped[reason] == 1 and reason.startswith(f"{name}: {field}: ")
    assert len(ds.histories) == 3


def test_missing_and_empty_files(tmp_path):
    folder = folder_with(tmp_path)
    (folder / "Games.item").unlink()
    with pytest.raises(InputError, match=r"Games\.item: required file is missing"):
        read_source("amazon-llmrank", folder)
    folder = folder_with(tmp_path / "empty", inter="")
    with pytest.raises(InputError, match=r"Games\.test\.inter: the file is empty"):
        read_source("amazon-llmrank", folder, on_error="skip")
    folder = folder_with(tmp_path / "header", inter=INTER_HEADER)
    with pytest.raises(InputError, match="the file has no rows"):
        read_source("amazon-llmrank", folder, on_error="skip")
    folder = folder_with(tmp_path / "cols", inter="user_id:token\titems:token_seq\n0\t1\n")
    with pytest.raises(InputError, match="column 'item_id_list' is missing"):
        read_source("amazon-llmrank", folder)
    with pytest.raises(InputError, match=r"exactly one \*\.inter file; found: none"):
        read_source("amazon-llmrank", write(tmp_path / "none", "x.item", ITEM).parent)


@pytest.mark.data
def test_real_games(shared_data):
    folder = shared_data / "amazon-games"
    ds = read_source("amazon-llmrank", folder, max_users=1000)
    assert len(ds.histories) == 1000 and len(ds.catalog) == 16_859
    assert ds.histories[0].item_ids() == [str(i) for i in range(15)]
    assert ds.catalog["0"].title == "Fire Emblem: The Sacred Stones"
    full = read_source("amazon-llmrank", folder)
    assert len(full.histories) == 50_546 and sum(len(h) for h in full.histories) == 440_264
    assert full.skipped == {}
