"""The content-keyed store: keys change with any part, values survive kill -9 mid-write."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from toolkit.cache import (
    ContentStore,
    content_key,
    model_fingerprint,
    path_fingerprint,
    weights_fingerprint,
)

REPO = Path(__file__).resolve().parents[2]


def test_content_key_changes_with_every_part():
    base = dict(
        example="u1",
        window=20,
        verbalizer="zero_shot",
        weights="abc",
        grammar="g",
        prompt="p",
        decoding={"max_new_tokens": 64},
    )
    key = content_key(**base)
    assert key == content_key(**dict(reversed(list(base.items()))))
    for part in base:
        changed = dict(base, **{part: "other"})
        assert content_key(**changed) != key, part
    assert content_key(**dict(base, decoding={"max_new_tokens": 65})) != key


def test_put_get_roundtrip_and_get_many(tmp_path):
    store = ContentStore(tmp_path / "c")
    k1, k2, k3 = (content_key(i=i) for i in range(3))
    store.put(k1, {"text": "a", "valid": True})
    store.put(k2, {"text": "b"})
    assert store.get(k1) == {"text": "a", "valid": True}
    assert store.get(k3) is None
    assert store.get_many([k1, k2, k3]) == {k1: {"text": "a", "valid": True}, k2: {"text": "b"}}
    store.put(k1, {"text": "a2"})
    assert store.get(k1) == {"text": "a2"}
    assert len(store) == 2 and k2 in store and k3 not in store
    with pytest.raises(ValueError, match="hex"):
        store.get("../etc")
    with pytest.raises(TypeError):
        store.put(k1, ["not", "a", "dict"])


def test_items_lists_the_entries_and_skips_temp_and_foreign_files(tmp_path):
    store = ContentStore(tmp_path / "c")
    keys = sorted(content_key(i=i) for i in range(3))
    for i, key in enumerate(keys):
        store.put(key, {"i": i})
    (store.path / keys[0][:2] / ".tmp-half.json").write_text('{"key": ')  # a write under way
    (store.path / "zz").mkdir()
    (store.path / "zz" / "notes.json").write_text("{}")  # not named by a content key
    assert list(store.items()) == [(k, {"i": i}) for i, k in enumerate(keys)]


def test_archive_carries_entries_to_another_store(tmp_path):
    src = ContentStore(tmp_path / "a")
    keys = [content_key(i=i) for i in range(3)]
    for i, key in enumerate(keys[:2]):
        src.put(key, {"i": i, "scores": [-0.1 * i, 1e-9]})
    archive = tmp_path / "out" / "answers.jsonl.gz"
    assert src.export(archive, keys) == 2  # the absent key is not written
    assert not list(archive.parent.glob(".tmp-*"))
    dst = ContentStore(tmp_path / "b")
    dst.put(keys[1], {"i": 1, "scores": [-0.1, 1e-9]})
    assert dst.load_archive(archive) == 1  # only what it lacked
    assert dict(dst.items()) == dict(src.items())
    assert src.export(tmp_path / "again.jsonl.gz", reversed(keys)) == 2
    assert (tmp_path / "again.jsonl.gz").read_bytes() == archive.read_bytes()  # reproducible


def test_merged_export_keeps_what_the_archive_holds(tmp_path):
    a, b = ContentStore(tmp_path / "a"), ContentStore(tmp_path / "b")
    keys = [content_key(i=i) for i in range(3)]
    a.put(keys[0], {"i": 0})
    b.put(keys[1], {"i": 1})
    b.put(keys[2], {"i": 2})
    archive = tmp_path / "answers.jsonl.gz"
    assert a.export(archive, keys[:1], merge=True) == 1  # no archive yet: a plain export
    assert b.export(archive, keys[2:], merge=True) == 2  # keeps a's entry, adds keys[2]
    assert b.get(keys[0]) == {"i": 0}  # read into the store on the way
    assert a.export(archive, [], merge=True) == 2  # asking for nothing shrinks nothing
    assert a.get(keys[2]) == {"i": 2}
    assert a.export(archive, []) == 0  # without merge the archive is what was asked for
    with gzip.open(archive, "wb") as fh:
        fh.write(b'{"key": "../x", "value": {}}\n')
    with pytest.raises(ValueError, match=r"answers.jsonl.gz: line 1"):
        a.export(archive, keys, merge=True)  # a bad archive is refused, not overwritten
    with gzip.open(archive) as fh:
        assert fh.read() == b'{"key": "../x", "value": {}}\n'


def test_archive_with_a_bad_line_is_refused_whole(tmp_path):
    import gzip

    archive = tmp_path / "bad.jsonl.gz"
    good = json.dumps({"key": content_key(i=0), "value": {"i": 0}})
    with gzip.open(archive, "wt") as fh:
        fh.write(good + "\n" + '{"key": "../x", "value": {}}\n')
    store = ContentStore(tmp_path / "c")
    with pytest.raises(ValueError, match=r"bad.jsonl.gz: line 2"):
        store.load_archive(archive)
    assert len(store) == 0  # nothing half-written


def test_fingerprints_tell_weights_apart(tmp_path):
    torch.manual_seed(0)
    a, b = torch.nn.Linear(4, 4), torch.nn.Linear(4, 4)
    assert model_fingerprint(a) != model_fingerprint(b)
    b.load_state_dict(a.state_dict())
    assert model_fingerprint(a) == model_fingerprint(b) == weights_fingerprint(a)
    folder = tmp_path / "w"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(os.urandom(300_000))
    (folder / "config.json").write_text("{}")
    before = path_fingerprint(folder)
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in folder.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    assert path_fingerprint(copy) == before == weights_fingerprint(str(folder))
    data = bytearray((folder / "model.safetensors").read_bytes())
    data[-10] ^= 0xFF  # a change in the tail is seen
    (folder / "model.safetensors").write_bytes(bytes(data))
    assert path_fingerprint(folder) != before
    with pytest.raises(FileNotFoundError, match="fingerprint"):
        path_fingerprint(tmp_path / "missing")


def _spawn(code: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env)


def test_kill_9_during_put_keeps_old_entry(tmp_path):
    """The writer dies after writing the new bytes but before the rename: the old value stays."""
    marker = tmp_path / "writing"
    proc = _spawn(f"""
        import os, time
        from toolkit.cache import ContentStore, content_key
        store = ContentStore({str(tmp_path / "c")!r})
        key = content_key(x=1)
        store.put(key, {{"v": "old"}})
        real_fsync = os.fsync
        def stall(fd):
            open({str(marker)!r}, "w").close()
            time.sleep(60)
        os.fsync = stall
        store.put(key, {{"v": "new" * 100000}})
    """)
    deadline = time.time() + 60
    while not marker.exists():
        assert proc.poll() is None and time.time() < deadline, "writer exited early"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = ContentStore(tmp_path / "c")
    assert store.get(content_key(x=1)) == {"v": "old"}
    assert list((tmp_path / "c").glob("*/.tmp-*")), "the torn temp file should be left behind"
    assert len(store) == 1


def test_kill_9_at_a_random_moment_leaves_no_corrupt_entry(tmp_path):
    proc = _spawn(f"""
        from toolkit.cache import ContentStore, content_key
        store = ContentStore({str(tmp_path / "c")!r})
        i = 0
        while True:
            store.put(content_key(i=i), {{"i": i, "pad": "x" * 2_000_000}})
            i += 1
    """)
    deadline = time.time() + 60
    while len([f for f in (tmp_path / "c").glob("??/*.json") if not f.name.startswith(".")]) < 3:
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = ContentStore(tmp_path / "c")
    files = [f for f in (tmp_path / "c").glob("??/*.json") if not f.name.startswith(".")]
    assert len(files) >= 3
    for f in files:
        value = store.get(f.stem)
        assert value is not None and value["pad"] == "x" * 2_000_000
        assert f.stem == content_key(i=value["i"])
