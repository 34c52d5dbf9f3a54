"""Synthea CSV exports: each patient's encounters, conditions, medications, procedures and
immunizations as one history.

Every record becomes an interaction at its START (``DATE`` for immunizations) whose item is
the coded concept, ``"<kind>:<CODE>"`` (``condition:359817006``), and whose event is the
kind. Conditions are dated by day only; when one is recorded at an encounter of the same
day it takes the encounter's time, so it follows the visit that found it instead of
preceding it at midnight. Records of one time keep the order kinds are read in
(encounters first), then file order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from toolkit.errors import ConfigError, InputError
from toolkit.records import Catalog, Dataset, Interaction, Item
from toolkit.sources.base import SOURCES, ErrorPolicy, OnError, Source
from toolkit.sources.parsing import (
    RowError,
    Table,
    build_histories,
    iso_time,
    make_dataset,
    paused_gc,
    read_table,
    report_row,
    require_file,
    require_path,
    text_id,
)


@dataclass(frozen=True)
class Kind:
    """One record file: its kind (the event), its time column and its code system."""

    name: str
    file: str
    start: str
    system: str


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("encounter", "encounters.csv", "START", "SNOMED-CT"),
        Kind("condition", "conditions.csv", "START", "SNOMED-CT"),
        Kind("medication", "medications.csv", "START", "RxNorm"),
        Kind("procedure", "procedures.csv", "START", "SNOMED-CT"),
        Kind("immunization", "immunizations.csv", "DATE", "CVX"),
    )
}


@dataclass
class _Visit:
    encounter_class: str | None
    start: datetime


def _column(table: Table, name: str) -> int | None:
    return table.columns.index(name) if name in table.columns else None


def _date_only(text: str) -> bool:
    return len(text.strip()) == 10


def read_patients(folder: Path, policy: ErrorPolicy) -> list[str]:
    """Patient ids in file order (the order of the histories)."""
    file = require_file(folder / "patients.csv", "Synthea patients")
    table = read_table(file, policy, quoted=True)
    i_id = table.index("Id")
    patients: dict[str, None] = {}
    for lineno, fields in table.rows:
        try:
            patient = text_id(fields[i_id], "Id")
            if patient in patients:
                raise RowError("Id", "duplicate patient id", patient)
        except RowError as exc:
            report_row(policy, file, lineno, exc)
            continue
        patients[patient] = None
    return list(patients)


@dataclass
class _Reader:
    """State shared while the record files are read one after the other."""

    policy: ErrorPolicy
    logs: dict[str, list[Interaction]]
    catalog: Catalog
    visits: dict[str, _Visit]
    max_minutes: float

    def read_kind(self, folder: Path, kind: Kind) -> None:
        file = require_file(folder / kind.file, f"Synthea {kind.name} records")
        table = read_table(file, self.policy, quoted=True)
        i_start, i_patient, i_code, i_desc = (
            table.index(n) for n in (kind.start, "PATIENT", "CODE", "DESCRIPTION")
        )
        i_stop, i_id, i_visit, i_class, i_reason, i_system = (
            _column(table, n)
            for n in ("STOP", "Id", "ENCOUNTER", "ENCOUNTERCLASS", "REASONDESCRIPTION", "SYSTEM")
        )
        for lineno, fields in table.rows:
            try:
                patient = fields[i_patient].strip()
                if patient not in self.logs:
                    raise RowError("PATIENT", "patient is not in patients.csv", patient)
                code = text_id(fields[i_code], "CODE")
                description = " ".join(fields[i_desc].split())  # Synthea turns "," into "  "
                if not description:
                    raise RowError("DESCRIPTION", "missing description")
                recorded = iso_time(fields[i_start], kind.start)
                duration = None
                stop_text = fields[i_stop].strip() if i_stop is not None else ""
                if stop_text:
                    minutes = (iso_time(stop_text, "STOP") - recorded).total_seconds() / 60
                    if minutes < 0:
                        raise RowError("STOP", f"STOP is before {kind.start}", stop_text)
                    duration = minutes if minutes < self.max_minutes else None
            except RowError as exc:
                report_row(self.policy, file, lineno, exc)
                continue
            visit = self.visits.get(fields[i_visit].strip()) if i_visit is not None else None
            timestamp = recorded
            if (
                visit is not None
                and _date_only(fields[i_start])
                and visit.start.date() == recorded.date()
            ):
                timestamp = visit.start
            attrs: dict[str, str] = {"code": code}
            encounter_class = fields[i_class].strip() if i_class is not None else None
            if encounter_class:
                attrs["encounter_class"] = encounter_class
            elif visit is not None and visit.encounter_class:
                attrs["encounter_class"] = visit.encounter_class
            if i_stop is not None and not stop_text:
                attrs["active"] = "yes"  # no STOP: an active condition or medication
            if i_reason is not None and fields[i_reason].strip():
                attrs["reason"] = fields[i_reason].strip()
            if kind.name == "encounter" and i_id is not None and fields[i_id].strip():
                self.visits[fields[i_id].strip()] = _Visit(encounter_class or None, recorded)
            item_id = f"{kind.name}:{code}"
            if item_id not in self.catalog:
                system = (fields[i_system].strip() if i_system is not None else "") or kind.system
                self.catalog.add(
                    Item(
                        item_id=item_id,
                        title=description,
                        genres=(kind.name,),
                        attrs={"code": code, "system": system, "kind": kind.name},
                    )
                )
            self.logs[patient].append(
                Interaction(
                    timestamp=timestamp,
                    item_id=item_id,
                    event=kind.name,
                    duration=duration,
                    attrs=attrs,
                )
            )


@SOURCES.register("synthea")
class Synthea(Source):
    """Synthea CSV export: patients.csv plus one file per record kind, coded items."""

    name = "synthea"
    domain = "healthcare"

    def read(  # type: ignore[override]
        self,
        path: str | Path | None,
        *,
        on_error: OnError = "raise",
        kinds: Sequence[str] | None = None,
        max_duration_days: float = 365,
        name: str | None = None,
    ) -> Dataset:
        """Read the export folder. ``kinds`` limits the record files read (each one named is
        required); a START->STOP span of ``max_duration_days`` or more has no duration."""
        folder = require_path(path, self.name)
        if not folder.is_dir():
            raise InputError.at("a Synthea export is a folder of CSV files", folder)
        chosen = list(KINDS) if kinds is None else list(kinds)
        unknown = [k for k in chosen if k not in KINDS]
        if unknown or not chosen:
            raise ConfigError(
                f"kinds: unknown {', '.join(unknown) or '(none given)'}; known: {', '.join(KINDS)}"
            )
        policy = ErrorPolicy(on_error)
        patients = read_patients(folder, policy)
        reader = _Reader(
            policy,
            {p: [] for p in patients},
            Catalog(),
            {},
            max_minutes=float(max_duration_days) * 24 * 60,
        )
        with paused_gc():
            for kind in KINDS:  # a fixed order: ties in time put the encounter first
                if kind in chosen:
                    reader.read_kind(folder, KINDS[kind])
            histories = build_histories(reader.logs, by_time=True)
        return make_dataset(
            name or self.name,
            histories,
            reader.catalog,
            policy,
            folder / "patients.csv",
            domain=self.domain,
            has_timestamps=True,
        )


__all__ = ["KINDS", "Kind", "Synthea", "read_patients"]
