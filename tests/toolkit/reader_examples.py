"""Small rerank examples for reader tests: one watched item each, ten candidates '0'..'9'."""

from __future__ import annotations

from datetime import datetime

from toolkit.records import History, Interaction
from toolkit.tasks import RerankExample


def one_watch_examples(n: int, watched=lambda k: "1") -> list[RerankExample]:
    """``n`` test examples; example k watched ``watched(k)`` and its target is ``k % 10``."""
    return [
        RerankExample(
            example_id=f"e{k}",
            user_id=f"u{k}",
            history=History(
                user_id=f"u{k}",
                interactions=(
                    Interaction(item_id=watched(k), event="watch", timestamp=datetime(2024, 1, 1)),
                ),
            ),
            candidates=tuple(str(i) for i in range(10)),
            target=str(k % 10),
            discovery=True,
            split="test",
        )
        for k in range(n)
    ]
