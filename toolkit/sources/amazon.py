"""Amazon histories as prepared for LLMRank (RecBole atomic files): order, no clock.

``*.inter`` rows are ``user_id  item_id_list  item_id``: the space-separated history,
oldest first, then the next item; the history read here is the list plus that next item.
``*.item`` rows are ``item_id  title``. There are no timestamps, so interactions carry none
and ``has_timestamps`` is False: a verbalizer must not invent dates. A folder may hold one
``.inter`` file per split (``Games.train.inter``...); ``split`` picks one. RecBole train files
repeat a user once per prefix of their history; the longest row wins.
"""

from __future__ import annotations

from pathlib import Path

from toolkit.errors import ConfigError, InputError
from toolkit.records import Catalog, Dataset, Interaction, Item
from toolkit.sources.base import SOURCES, ErrorPolicy, OnError, Source
from toolkit.sources.parsing import (
    RowError,
    Table,
    build_histories,
    make_dataset,
    paused_gc,
    read_table,
    report_row,
    require_file,
    require_path,
    text_id,
)


def _field_names(table: Table) -> dict[str, int]:
    """RecBole headers name each column ``name:type``; map the names to positions."""
    return {column.split(":", 1)[0].strip(): i for i, column in enumerate(table.columns)}


def _position(table: Table, names: dict[str, int], name: str) -> int:
    if name not in names:
        found = ", ".join(table.columns)
        message = f"column {name!r} is missing from the header (found: {found})"
        raise InputError.at(message, table.path, 1, name)
    return names[name]


def find_files(path: Path, split: str | None) -> tuple[Path, Path]:
    """The ``.inter`` file to read and the ``.item`` file beside it."""
    if path.is_file():
        inter = path
    else:
        found = sorted(path.glob("*.inter"))
        if split is not None:
            found = [f for f in found if f.name.endswith(f".{split}.inter")]
        if len(found) != 1:
            listed = ", ".join(f.name for f in sorted(path.glob("*.inter"))) or "none"
            need = f"one *.{split}.inter file" if split else "exactly one *.inter file"
            hint = "" if split else " (pick one with the split option)"
            raise InputError.at(f"expected {need}; found: {listed}{hint}", path)
        inter = found[0]
    stem = inter.name.removesuffix(".inter")
    candidates = [inter.with_name(f"{stem}.item")]
    if "." in stem:
        candidates.append(inter.with_name(f"{stem.rsplit('.', 1)[0]}.item"))
    for candidate in candidates:
        if candidate.is_file():
            return inter, candidate
    items = sorted(inter.parent.glob("*.item"))
    if len(items) == 1:
        return inter, items[0]
    return inter, require_file(candidates[-1], "LLMRank item titles")


def read_items(file: Path, policy: ErrorPolicy) -> Catalog:
    """Titles by item id; other columns go to ``attrs`` as text."""
    table = read_table(file, policy, sep="\t")
    names = _field_names(table)
    i_id, i_title = _position(table, names, "item_id"), _position(table, names, "title")
    f_id, f_title = table.columns[i_id], table.columns[i_title]  # as the header spells them
    extra = [(n, i) for n, i in names.items() if i not in (i_id, i_title)]
    catalog = Catalog()
    for lineno, fields in table.rows:
        try:
            item_id, title = text_id(fields[i_id], f_id), fields[i_title].strip()
            if not title:
                raise RowError(f_title, "missing title")
            if item_id in catalog:
                raise RowError(f_id, "duplicate item id", item_id)
        except RowError as exc:
            report_row(policy, file, lineno, exc)
            continue
        attrs = {n: fields[i].strip() for n, i in extra if fields[i].strip()}
        catalog.add(Item(item_id=item_id, title=title, attrs=attrs))
    return catalog


@SOURCES.register("amazon-llmrank")
class LLMRankAmazon(Source):
    """LLMRank Amazon (``*.inter`` + ``*.item``): ordered purchases without timestamps."""

    name = "amazon-llmrank"
    domain = "ecommerce"

    def read(  # type: ignore[override]
        self,
        path: str | Path | None,
        *,
        on_error: OnError = "raise",
        split: str | None = None,
        max_users: int | None = None,
        event: str = "purchase",
        name: str | None = None,
    ) -> Dataset:
        """Read a folder (``split`` picks among several ``.inter`` files) or one ``.inter``
        file; ``max_users`` keeps the first N users of the file, for cheap runs."""
        path = require_path(path, self.name)
        if max_users is not None and (
            isinstance(max_users, bool) or not isinstance(max_users, int) or max_users < 1
        ):
            raise ConfigError(f"max_users must be a whole number >= 1, not {max_users!r}")
        inter, item_file = find_files(path, split)
        policy = ErrorPolicy(on_error)
        with paused_gc():
            catalog = read_items(item_file, policy)
            logs = self._histories(inter, item_file.name, catalog, policy, max_users, event)
            histories = build_histories(logs, by_time=False)
        return make_dataset(
            name or self.name,
            histories,
            catalog,
            policy,
            inter,
            domain=self.domain,
            has_timestamps=False,
        )

    @staticmethod
    def _histories(
        file: Path,
        item_file: str,
        catalog: Catalog,
        policy: ErrorPolicy,
        max_users: int | None,
        event: str,
    ) -> dict[str, list[Interaction]]:
        table = read_table(file, policy, sep="\t")
        names = _field_names(table)
        i_user, i_list, i_next = (
            _position(table, names, n) for n in ("user_id", "item_id_list", "item_id")
        )
        # Interactions without a clock are the same for every user of an item: share them.
        shared: dict[str, Interaction] = {}
        logs: dict[str, list[Interaction]] = {}
        f_user, f_list, f_next = (table.columns[i] for i in (i_user, i_list, i_next))
        where = f"item is not in the catalog ({item_file})"
        for lineno, fields in table.rows:
            user = fields[i_user].strip()
            if max_users is not None and user not in logs and len(logs) >= max_users:
                break
            try:
                user = text_id(user, f_user)
                ids = fields[i_list].split()
                ids.append(fields[i_next].strip())
                if not ids[-1]:
                    raise RowError(f_next, "missing next item")
                for position, item in enumerate(ids):
                    if item not in catalog:
                        field = f_next if position == len(ids) - 1 else f_list
                        raise RowError(field, where, item)
            except RowError as exc:
                report_row(policy, file, lineno, exc)
                continue
            if len(ids) <= len(logs.get(user, ())):
                continue
            logs[user] = [
                shared.get(i) or shared.setdefault(i, Interaction(item_id=i, event=event))
                for i in ids
            ]
        return logs


__all__ = ["LLMRankAmazon", "find_files", "read_items"]
