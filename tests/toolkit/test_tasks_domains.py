"""``negatives_like_targets``: a next condition is asked among conditions, not visits."""

from __future__ import annotations

from datetime import datetime, timedelta

from toolkit.records import Catalog, Dataset, History, Interaction, Item
from toolkit.tasks import TaskConfig, build_examples


def record_dataset() -> Dataset:
    items = [Item(item_id=f"encounter:{k}", title=f"Visit {k}") for k in range(30)]
    items += [Item(item_id=f"condition:{k}", title=f"Condition {k}") for k in range(30)]
    histories = []
    for u in range(12):
        t = datetime(2020, 1, 1)
        xs = []
        for k in range(8):
            t += timedelta(days=3)
            kind = "condition" if k % 3 == 2 else "encounter"
            xs.append(Interaction(timestamp=t, item_id=f"{kind}:{(u + k) % 30}", event=kind))
        histories.append(History(user_id=f"p{u}", interactions=tuple(xs)))
    return Dataset(name="records", histories=histories, catalog=Catalog(items), domain="healthcare")


def test_negatives_come_from_items_seen_as_targets():
    config = TaskConfig(target_events=["condition"], negatives_like_targets=True, min_history=2)
    examples = [e for rows in build_examples(record_dataset(), config)[0].values() for e in rows]
    assert examples
    for ex in examples:
        assert ex.target.startswith("condition:")
        assert all(c.startswith("condition:") for c in ex.candidates), ex.candidates


def test_without_it_negatives_come_from_the_whole_catalog():
    config = TaskConfig(target_events=["condition"], min_history=2)
    examples = [e for rows in build_examples(record_dataset(), config)[0].values() for e in rows]
    assert any(c.startswith("encounter:") for ex in examples for c in ex.candidates)
