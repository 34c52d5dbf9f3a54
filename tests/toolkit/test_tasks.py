"""Rerank task preparation: splits, leakage, candidates, determinism, files, atomicity."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from toolkit.errors import InputError
from toolkit.records import Catalog, Dataset, History, Interaction, Item
from toolkit.tasks import (
    SPLITS,
    RerankExample,
    TaskConfig,
    TaskSet,
    build_examples,
    prepare_tasks,
    task_stats,
)

START = datetime(2024, 1, 1, 8)


def make_dataset(
    seed: int = 0, n_users: int = 30, n_items: int = 40, timestamps: bool = True
) -> Dataset:
    """Zipf-popular items, repeats, timestamp ties and noise previews (signal False)."""
    rng = random.Random(seed)
    ids = [f"i{k}" for k in range(n_items)]
    weights = [1 / (k + 1) for k in range(n_items)]
    histories = []
    for u in range(n_users):
        t = START + timedelta(days=rng.randint(0, 30))
        log = []
        for item in rng.choices(ids, weights, k=rng.randint(6, 14)):
            t += timedelta(minutes=rng.choice([0, 0, 5, 60, 600]))  # ties on purpose
            noise = rng.random() < 0.2
            attrs = {"signal": False} if noise else {"rating": rng.randint(1, 5)}
            if rng.random() < 0.3:
                attrs["device"] = "tv"
            log.append(
                Interaction(
                    timestamp=t if timestamps else None,
                    item_id=item,
                    event="preview" if noise else "play",
                    duration=None if noise else float(rng.randint(5, 120)),
                    attrs=attrs,
                )
            )
        histories.append(History(user_id=f"u{u}", interactions=tuple(log)))
    catalog = Catalog(Item(item_id=i, title=f"Item {i}", year=2000) for i in ids)
    return Dataset(name="toy", histories=histories, catalog=catalog, has_timestamps=timestamps)


def logs(dataset: Dataset) -> dict[str, tuple[Interaction, ...]]:
    return {h.user_id: h.interactions for h in dataset.histories}


def eligible(log: tuple[Interaction, ...], min_history: int = 1) -> list[int]:
    return [i for i, x in enumerate(log) if i >= min_history and x.attrs.get("signal") is not False]


def position(ex: RerankExample, log: tuple[Interaction, ...]) -> int:
    """Where the example's target sits in the user's log (history is the window before it)."""
    h = ex.history.interactions
    if not h:
        return 0
    for start in range(len(log)):
        if log[start : start + len(h)] == h:
            return start + len(h)
    raise AssertionError(f"{ex.example_id}: history is not a window of the user's log")


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return make_dataset()


@pytest.fixture(scope="module")
def built(dataset):
    return build_examples(dataset, TaskConfig(train_per_user=3))[0]


def test_leave_last_out_positions(dataset, built):
    by_user = logs(dataset)
    for ex in (e for rows in built.values() for e in rows):
        log = by_user[ex.user_id]
        pos = eligible(log)
        p = position(ex, log)
        assert ex.target == log[p].item_id
        if ex.split == "test":
            assert p == pos[-1]
        elif ex.split == "val":
            assert p == pos[-2]
        else:
            assert p in pos[:-2][-3:]
    for user, log in by_user.items():
        mine = [e for rows in built.values() for e in rows if e.user_id == user]
        n_train = sum(e.split == "train" for e in mine)
        assert n_train == min(3, max(0, len(eligible(log)) - 2))
        assert sum(e.split == "test" for e in mine) == 1


def test_no_future_in_history_and_history_is_a_prefix(dataset, built):
    by_user = logs(dataset)
    for ex in (e for rows in built.values() for e in rows):
        log = by_user[ex.user_id]
        p = position(ex, log)
        target_time = log[p].timestamp
        assert all(x.timestamp <= target_time for x in ex.history.interactions)
        assert ex.history.interactions == log[max(0, p - 100) : p]


def test_discovery_flag(built):
    examples = [e for rows in built.values() for e in rows]
    for ex in examples:
        assert ex.discovery == (ex.target not in ex.history.item_ids())
    kinds = Counter(ex.discovery for ex in examples)
    assert kinds[True] and kinds[False], "the toy set should hold both kinds"


def test_noise_and_target_events_never_targets(dataset):
    by_user = logs(dataset)
    config = TaskConfig(target_events=["play"], min_history=2)
    for ex in (e for rows in build_examples(dataset, config)[0].values() for e in rows):
        p = position(ex, by_user[ex.user_id])
        target = by_user[ex.user_id][p]
        assert target.attrs.get("signal") is not False and target.event == "play"
        assert len(ex.history) >= 2
    none = build_examples(dataset, TaskConfig(target_events=["purchase"]))[0]
    assert not any(none.values())


def test_max_history_keeps_the_most_recent(dataset):
    by_user = logs(dataset)
    for ex in build_examples(dataset, TaskConfig(max_history=3))[0]["test"]:
        log = by_user[ex.user_id]
        p = eligible(log)[-1]
        assert ex.history.interactions == log[max(0, p - 3) : p]


def test_candidates_unique_one_target_never_touched(dataset, built):
    touched = {user: {x.item_id for x in log} for user, log in logs(dataset).items()}
    for ex in (e for rows in built.values() for e in rows):
        assert len(ex.candidates) == 10 == len(set(ex.candidates))
        assert ex.candidates.count(ex.target) == 1
        negatives = set(ex.candidates) - {ex.target}
        assert not negatives & touched[ex.user_id]
        assert negatives <= set(dataset.catalog.ids())


def test_target_positions_are_shuffled(built):
    places = Counter(ex.target_index for rows in built.values() for ex in rows)
    assert len(places) >= 8


def test_timestamp_ties_keep_file_order():
    t = START
    log = tuple(Interaction(timestamp=t, item_id=i, event="play") for i in ("z", "a", "m", "b"))
    catalog = Catalog(Item(item_id=i, title=i) for i in "zambcdefghijklnopq")
    ds = Dataset(name="ties", histories=[History(user_id="u", interactions=log)], catalog=catalog)
    test = build_examples(ds, TaskConfig())[0]["test"][0]
    assert test.history.item_ids() == ["z", "a", "m"] and test.target == "b"


def read_all(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def test_same_seed_same_bytes_other_seed_differs(dataset, tmp_path):
    prepare_tasks(dataset, tmp_path / "a", TaskConfig(seed=3))
    prepare_tasks(dataset, tmp_path / "b", TaskConfig(seed=3))
    prepare_tasks(dataset, tmp_path / "c", TaskConfig(seed=4))
    a, b, c = (read_all(tmp_path / n) for n in "abc")
    assert a == b
    assert a["test.jsonl"] != c["test.jsonl"] and a["train.jsonl"] != c["train.jsonl"]


def test_examples_do_not_depend_on_processing_order(dataset):
    flipped = dataset.model_copy(update={"histories": dataset.histories[::-1]})
    key = lambda rows: sorted(json.dumps(e.to_json()) for e in rows)  # noqa: E731
    one, two = build_examples(dataset)[0], build_examples(flipped)[0]
    assert all(key(one[s]) == key(two[s]) for s in SPLITS)


def test_popularity_negatives_favour_popular_items():
    ds = make_dataset(seed=1, n_users=200, n_items=60)
    popular = {f"i{k}" for k in range(5)}

    def share(negatives: str) -> float:
        rows = build_examples(ds, TaskConfig(negatives=negatives))[0]["test"]
        negs = [c for ex in rows for c in ex.candidates if c != ex.target]
        return sum(c in popular for c in negs) / len(negs)

    uniform, weighted = share("uniform"), share("popularity")
    assert weighted > 2 * uniform
    assert uniform < 0.15  # about 5/60 of the (untouched) catalog


def test_datasets_loads_the_files(dataset, tmp_path):
    import datasets

    meta = prepare_tasks(dataset, tmp_path / "tasks", TaskConfig())
    files = {s: str(tmp_path / "tasks" / f"{s}.jsonl") for s in SPLITS}
    loaded = datasets.load_dataset("json", data_files=files, cache_dir=str(tmp_path / "hf"))
    for split in SPLITS:
        assert loaded[split].num_rows == meta["counts"][split] > 0
    row = loaded["train"][0]
    assert set(row) == {
        "example_id",
        "user_id",
        "history",
        "candidates",
        "target",
        "discovery",
        "split",
    }
    assert set(row["history"][0]["attrs"]) == {"device", "rating", "signal"}


def test_roundtrip_and_catalog_holds_only_referenced_items(dataset, tmp_path):
    prepare_tasks(dataset, tmp_path / "t", TaskConfig())
    tasks = TaskSet.load(tmp_path / "t")
    original = build_examples(dataset, TaskConfig())[0]
    for split in SPLITS:
        assert [e.to_json() for e in tasks.split(split)] == [e.to_json() for e in original[split]]
    referenced = {c for ex in tasks for c in ex.candidates} | {
        i for ex in tasks for i in ex.history.item_ids()
    }
    assert set(tasks.catalog.ids()) == referenced
    assert tasks.meta["config"]["seed"] == 0 and tasks.meta["source"] == "toy"


def test_failure_leaves_no_directory(dataset, tmp_path, monkeypatch):
    import toolkit.tasks

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(toolkit.tasks, "write_json", boom)
    with pytest.raises(OSError, match="disk full"):
        prepare_tasks(dataset, tmp_path / "out", TaskConfig())
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite_when_asked(dataset, tmp_path):
    prepare_tasks(dataset, tmp_path / "out")
    with pytest.raises(FileExistsError):
        prepare_tasks(dataset, tmp_path / "out", overwrite=False)


def test_history_item_missing_from_catalog(dataset):
    extra = History(
        user_id="ghost",
        interactions=(
            Interaction(timestamp=START, item_id="i1", event="play"),
            Interaction(timestamp=START, item_id="nope", event="play"),
            Interaction(timestamp=START, item_id="i2", event="play"),
        ),
    )
    bad = dataset.model_copy(update={"histories": [*dataset.histories, extra]})
    with pytest.raises(InputError, match=r"toy: field 'item_id': user 'ghost'.*'nope'"):
        build_examples(bad)
    rows, info = build_examples(bad, on_error="skip")
    assert info["skipped"] == {"tasks: history item not in the catalog": 1}
    ghost = next(e for e in rows["test"] if e.user_id == "ghost")
    assert ghost.history.item_ids() == ["i1"] and ghost.target == "i2"


def test_too_small_catalog_is_reported():
    catalog = Catalog(Item(item_id=f"i{k}", title="x") for k in range(5))
    log = tuple(Interaction(item_id=f"i{k}", event="play") for k in range(3))
    ds = Dataset(name="tiny", histories=[History(user_id="u", interactions=log)], catalog=catalog)
    with pytest.raises(InputError, match="untouched"):
        build_examples(ds)
    assert not any(build_examples(ds, on_error="skip")[0].values())
    assert len(build_examples(ds, TaskConfig(n_candidates=3))[0]["test"][0].candidates) == 3


def test_global_time_split(dataset):
    config = TaskConfig(split="global-time", val_fraction=0.2, test_fraction=0.2)
    rows, info = build_examples(dataset, config)
    cut1, cut2 = (datetime.fromisoformat(c) for c in info["cuts"])
    by_user = logs(dataset)
    for split in SPLITS:
        assert rows[split], split
        for ex in rows[split]:
            log = by_user[ex.user_id]
            n = len(ex.history)
            # the target: the history ends where the target's timestamp (ties included) begins
            found = [
                i
                for i, x in enumerate(log)
                if x.item_id == ex.target
                and x.attrs.get("signal") is not False
                and (e := next(j for j in range(len(log)) if log[j].timestamp == x.timestamp)) >= n
                and log[max(0, e - n) : e] == ex.history.interactions
            ]
            target_time = log[found[0]].timestamp
            assert all(x.timestamp < target_time for x in ex.history.interactions)
            if split == "test":
                assert target_time > cut2
            elif split == "val":
                assert cut1 < target_time <= cut2
            else:
                assert target_time <= cut1
    assert all(sum(e.user_id == u for e in rows["test"]) <= 1 for u in by_user)


def test_global_time_needs_timestamps():
    with pytest.raises(InputError, match="needs timestamps"):
        build_examples(make_dataset(timestamps=False), TaskConfig(split="global-time"))


def test_config_validation():
    with pytest.raises(ValueError, match="below 1"):
        TaskConfig(val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ValueError):
        TaskConfig(n_candidates=1)
    with pytest.raises(ValueError):
        TaskConfig(negatives="random")


def test_stats(dataset, tmp_path):
    meta = prepare_tasks(dataset, tmp_path / "t", TaskConfig())
    stats = task_stats(TaskSet.load(tmp_path / "t"))
    for split in SPLITS:
        s = stats["splits"][split]
        assert s["examples"] == meta["counts"][split]
        assert s["discovery"] == meta["discovery"][split]
        assert 0 < s["discovery_share"] < 1
        assert 1 <= s["history_length"]["min"] <= s["history_length"]["max"] <= 100
    assert stats["splits"]["test"]["users"] == len(dataset.histories)


def test_load_reports_file_line_and_field(dataset, tmp_path):
    prepare_tasks(dataset, tmp_path / "t")
    lines = (tmp_path / "t" / "val.jsonl").read_text().splitlines()
    row = json.loads(lines[2])
    del row["history"][0]["item_id"]
    lines[2] = json.dumps(row)
    (tmp_path / "t" / "val.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"val.jsonl:3: field 'history\[0\].item_id'"):
        TaskSet.load(tmp_path / "t")


def test_two_histories_of_one_user_are_refused(dataset):
    twice = dataset.model_copy(update={"histories": [*dataset.histories, dataset.histories[0]]})
    with pytest.raises(InputError, match="more than one history"):
        build_examples(twice)
