"""The paper's baseline: one log row per interaction, oldest first.

``19980315, Sunday, 2 PM, ID: 242, Kolya (1996), Thumb Up, 80.08 min`` — the date part is
left out when the source has no clock, the duration when it is unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from toolkit.records import Catalog, History, Interaction
from toolkit.verbalizers.base import VERBALIZERS, Verbalization, Verbalizer, count_tokens

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_HOURS = tuple(f"{(h % 12) or 12} {'AM' if h < 12 else 'PM'}" for h in range(24))


def event_label(event: str) -> str:
    """``thumb_up`` -> ``Thumb Up``."""
    return event.replace("_", " ").title()


def _when(ts: datetime) -> str:
    return f"{ts.year:04d}{ts.month:02d}{ts.day:02d}, {_DAYS[ts.weekday()]}, {_HOURS[ts.hour]}, "


def render_line(x: Interaction, catalog: Catalog) -> str:
    item = catalog.get(x.item_id)
    title = item.display_title if item is not None else "Unknown title"
    line = f"ID: {x.item_id}, {title}, {event_label(x.event)}"
    if x.timestamp is not None:
        line = _when(x.timestamp) + line
    if x.duration is not None:
        line += f", {x.duration:.2f} min"
    return line


def render_template(history: History, catalog: Catalog) -> str:
    return "\n".join(render_line(x, catalog) for x in history.interactions)


@VERBALIZERS.register("template")
class TemplateVerbalizer(Verbalizer):
    """The raw-log baseline every compression ratio and relative change refers to."""

    name = "template"

    def verbalize_batch(
        self, histories: Sequence[History], catalog: Catalog
    ) -> list[Verbalization]:
        out = []
        for history in histories:
            text = render_template(history, catalog)
            tokens = count_tokens(text, self.tokenizer)
            out.append(
                Verbalization(
                    text=text,
                    chars=len(text),
                    tokens=tokens,
                    template_chars=len(text),
                    template_tokens=tokens,
                    meta={"kept": list(range(len(history)))},
                )
            )
        return out
