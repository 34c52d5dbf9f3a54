"""The Synthea reader on a small export written here, plus the real 59-patient export."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import pytest

from tests.toolkit.sources.conftest import assert_names, write
from toolkit.errors import ConfigError, InputError
from toolkit.sources import read_source

P1, P2, P3 = "p-1", "p-2", "p-3"
FILES = {
    "patients.csv": (
        f"Id,BIRTHDATE,FIRST\n{P1},2009-09-20,Maude\n{P2},2021-08-22,Jorge\n{P3},1950-01-01,Al\n"
    ),
    "encounters.csv": (
        "Id,START,STOP,PATIENT,ENCOUNTERCLASS,CODE,DESCRIPTION,REASONCODE,REASONDESCRIPTION\n"
        f"e1,2013-12-18T14:19:41Z,2013-12-18T15:27:41Z,{P1},emergency,50849002,"
        "Emergency room admission (procedure),,\n"
        f"e2,2014-03-09T15:27:41+02:00,2014-03-09T13:42:41Z,{P1},ambulatory,185349003,"
        "Encounter for 'check-up',359817006,Closed fracture of hip\n"
        f"e3,2021-08-23T03:26:50Z,2021-08-23T03:41:50Z,{P2},wellness,410620009,"
        "Well child visit (procedure),,\n"
    ),
    "conditions.csv": (
        "START,STOP,PATIENT,ENCOUNTER,CODE,DESCRIPTION\n"
        f"2013-12-18,2014-03-09,{P1},e1,359817006,Closed fracture of hip\n"
        f"2010-01-01,,{P1},,36971009,Sinusitis (disorder)\n"
    ),
    "medications.csv": (
        "START,STOP,PATIENT,ENCOUNTER,CODE,DESCRIPTION,REASONCODE,REASONDESCRIPTION\n"
        f"2013-12-18T15:27:41Z,2016-03-09T15:27:41Z,{P1},e1,198405,Ibuprofen 100 MG Oral Tablet,,\n"
    ),
    "procedures.csv": (
        "START,STOP,PATIENT,ENCOUNTER,CODE,DESCRIPTION,REASONCODE,REASONDESCRIPTION\n"
        f"2013-12-18T14:19:41Z,2013-12-18T14:49:41Z,{P1},e1,268425006,Pelvis X-ray,"
        "359817006,Closed fracture of hip\n"
    ),
    "immunizations.csv": (
        "DATE,PATIENT,ENCOUNTER,CODE,DESCRIPTION,BASE_COST\n"
        f"2021-08-23T03:26:50Z,{P2},e3,08,Hep B  adolescent or pediatric,136.00\n"
    ),
}


def export(folder, **files):
    for name, content in {**FILES, **files}.items():
        if content is not None:
            write(folder, name, content)
    return folder


def test_values(tmp_path):
    ds = read_source("synthea", export(tmp_path))
    assert (ds.name, ds.domain, ds.has_timestamps, ds.skipped) == (
        "synthea",
        "healthcare",
        True,
        {},
    )
    assert [h.user_id for h in ds.histories] == [P1, P2]  # p-3 has no records
    p1 = ds.histories[0].interactions
    assert [x.item_id for x in p1] == [
        "condition:36971009",
        "encounter:50849002",
        "condition:359817006",  # dated by day, placed at its encounter's time, after it
        "procedure:268425006",
        "medication:198405",
        "encounter:185349003",
    ]
    assert [x.event for x in p1] == [
        "condition",
        "encounter",
        "condition",
        "procedure",
        "medication",
        "encounter",
    ]
    assert [x.timestamp for x in p1] == [
        datetime(2010, 1, 1),
        datetime(2013, 12, 18, 14, 19, 41),
        datetime(2013, 12, 18, 14, 19, 41),
        datetime(2013, 12, 18, 14, 19, 41),
        datetime(2013, 12, 18, 15, 27, 41),
        datetime(2014, 3, 9, 13, 27, 41),  # +02:00 -> UTC
    ]
    # minutes START -> STOP; the condition's 81 days from its own dates; 2+ years -> None
    assert [x.duration for x in p1] == [None, 68.0, 81 * 24 * 60.0, 30.0, None, 15.0]
    assert p1[1].attrs == {"code": "50849002", "encounter_class": "emergency"}
    assert p1[2].attrs == {"code": "359817006", "encounter_class": "emergency"}
    assert p1[3].attrs["reason"] == "Closed fracture of hip"
    assert p1[0].attrs == {"code": "36971009", "active": "yes"}  # no encounter/class; no STOP
    imm = ds.histories[1].interactions[1]
    assert (imm.item_id, imm.event, imm.duration) == ("immunization:08", "immunization", None)
    item = ds.catalog["immunization:08"]
    assert item.title == "Hep B adolescent or pediatric"
    assert item.genres == ("immunization",)
    assert item.attrs == {"code": "08", "system": "CVX", "kind": "immunization"}
    assert ds.catalog["medication:198405"].attrs["system"] == "RxNorm"
    assert ds.catalog["condition:359817006"].attrs["system"] == "SNOMED-CT"
    assert len(ds.catalog) == 8


def test_kinds_option_reads_only_those_files(tmp_path):
    folder = export(tmp_path)
    (folder / "encounters.csv").unlink()
    ds = read_source("synthea", folder, kinds=["condition", "immunization"])
    assert Counter(x.event for h in ds.histories for x in h.interactions) == {
        "condition": 2,
        "immunization": 1,
    }
    with pytest.raises(InputError, match=r"encounters\.csv: required file is missing"):
        read_source("synthea", folder)
    with pytest.raises(ConfigError, match="unknown allergy"):
        read_source("synthea", folder, kinds=["allergy"])


BAD = [
    ("conditions.csv", "2010-01-01,,p-9,,1,X\n", "PATIENT"),
    ("conditions.csv", "2010-13-01,,p-1,,1,X\n", "START"),
    ("conditions.csv", "2010-01-02,2010-01-01,p-1,,1,X\n", "STOP"),
    ("conditions.csv", "2010-01-01,,p-1,,,X\n", "CODE"),
    ("conditions.csv", "2010-01-01,,p-1,,1,\n", "DESCRIPTION"),
    ("conditions.csv", "2010-01-01,,p-1,,1\n", "DESCRIPTION"),
    ("immunizations.csv", "yesterday,p-1,,08,Hep B,1\n", "DATE"),
    ("patients.csv", "p-1,2000-01-01,Again\n", "Id"),
]


@pytest.mark.parametrize(("name", "row", "field"), BAD)
def test_bad_rows_name_file_line_and_field(tmp_path, name, row, field):
    content = FILES[name] + row
    folder = export(tmp_path, **{name: content})
    line = content.count("\n")
    with pytest.raises(InputError) as err:
        read_source("synthea", folder)
    assert_names(err, name, line, field)
    ds = read_source("synthea", folder, on_error="skip")
    (reason,) = ds.skipped
    assert ds.skipped[reason] == 1 and reason.startswith(f"{name}: {field}: ")
    assert sum(len(h) for h in ds.histories) == 8


def test_bad_bytes_missing_and_empty_files(tmp_path):
    content = FILES["procedures.csv"].encode() + b"2014-01-01,,p-1,,1,X-ray \xe9,,\n"
    folder = export(tmp_path, **{"procedures.csv": content})
    with pytest.raises(InputError) as err:
        read_source("synthea", folder)
    assert_names(err, "procedures.csv", 3, "DESCRIPTION")
    folder = export(tmp_path / "empty", **{"medications.csv": ""})
    with pytest.raises(InputError, match=r"medications\.csv: the file is empty"):
        read_source("synthea", folder, on_error="skip")
    folder = export(tmp_path / "nopatients", **{"patients.csv": None})
    with pytest.raises(InputError, match=r"patients\.csv: required file is missing"):
        read_source("synthea", folder)
    folder = export(tmp_path / "header", **{"conditions.csv": "BEGIN,PATIENT,CODE,DESCRIPTION\n"})
    with pytest.raises(InputError, match="column 'START' is missing from the header"):
        read_source("synthea", folder)


@pytest.mark.data
def test_real_export(shared_data):
    ds = read_source("synthea", shared_data / "synthea")
    assert len(ds.histories) == 59 and ds.skipped == {}
    counts = Counter(x.event for h in ds.histories for x in h.interactions)
    assert counts == {
        "encounter": 2590,
        "condition": 1534,
        "medication": 1772,
        "procedure": 4637,
        "immunization": 891,
    }
    assert ds.catalog["condition:359817006"].title == "Closed fracture of hip"
    for h in ds.histories:
        stamps = [x.timestamp for x in h.interactions]
        assert stamps == sorted(stamps)
