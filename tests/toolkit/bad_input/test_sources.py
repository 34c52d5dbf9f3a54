"""Class 2 and 3 of issue 15 in the readers: tracebacks and silently accepted input.

Decisions (also in README "When something goes wrong"): a NUL or other control character
in an id, a unix timestamp below 0, a time before 1900 or more than a day in the future,
and a column named in ``columns`` that the file lacks are errors; under ``--on-error
skip`` the row-level ones are dropped and counted by reason in the summary.
"""

from __future__ import annotations

import json

import pytest

from tests.toolkit.bad_input.conftest import assert_error, log_csv, write


def prepare(vtk, tmp_path, source: str, path, *extra: object):
    return vtk("data", "prepare", source, "--path", path, "--out", tmp_path / "out", *extra)


# --- tracebacks the csv and json modules used to raise --------------------------------


def test_csv_field_over_the_csv_module_limit_is_read(vtk, tmp_path):
    text = log_csv() + f'u0,"{"x" * 200_000}",1600000000\n'
    result = prepare(vtk, tmp_path, "csv", write(tmp_path / "log.csv", text))
    assert result.code == 0, result.err


def test_csv_unterminated_quote_names_its_first_line(vtk, tmp_path):
    text = log_csv() + 'u1,"i2,1600000000\nu1,i3,1600000001\n'
    first = text.count("\n") - 1
    result = prepare(vtk, tmp_path, "csv", write(tmp_path / "log.csv", text))
    assert_error(result, f"log.csv:{first}:", "unterminated quote")
    assert not (tmp_path / "out").exists()


def test_csv_unterminated_quote_is_counted_under_skip(vtk, tmp_path):
    text = log_csv() + 'u1,"i2,1600000000\nu1,i3,1600000001\n'
    result = prepare(vtk, tmp_path, "csv", write(tmp_path / "log.csv", text), "--on-error", "skip")
    assert result.code == 0, result.err
    assert "unterminated quote" in result.err


def test_synthea_unterminated_quote(vtk, tmp_path):
    folder = tmp_path / "synthea"
    write(folder / "patients.csv", 'Id,BIRTHDATE\np1,1980-01-01\n"p2,1981-01-01\np3,1982-01-01\n')
    result = prepare(vtk, tmp_path, "synthea", folder)
    assert_error(result, "patients.csv:3:", "unterminated quote")


@pytest.mark.parametrize("depth", [300, 100_000])
def test_deeply_nested_jsonl_row(vtk, tmp_path, depth):
    rows = [json.dumps({"user_id": "u", "item_id": f"i{i}"}) for i in range(3)]
    rows.append('{"user_id": "u", "item_id": "i9", "attrs": ' + "[" * depth + "]" * depth + "}")
    result = prepare(vtk, tmp_path, "jsonl", write(tmp_path / "log.jsonl", "\n".join(rows)))
    assert_error(result, "log.jsonl:4:", "nested deeper")


def test_jsonl_not_utf8(vtk, tmp_path):
    file = write(tmp_path / "log.jsonl", b'{"user_id": "u\xff", "item_id": "i"}\n')
    assert_error(prepare(vtk, tmp_path, "jsonl", file), "log.jsonl:1:", "utf-8")


# --- input that used to be accepted in silence ---------------------------------------


@pytest.mark.parametrize(
    ("option", "column"),
    [("columns={timestamp: ts}", "ts"), ("columns.user=uid", "uid")],
)
def test_mapped_column_missing_from_the_file(vtk, tmp_path, option, column):
    result = prepare(vtk, tmp_path, "csv", write(tmp_path / "log.csv", log_csv()), "-O", option)
    assert_error(result, "log.csv:1:", f"field '{column}'", "is not in the file")


def test_mapped_item_column_missing_from_the_items_file(vtk, tmp_path):
    folder = tmp_path / "d"
    write(folder / "interactions.csv", log_csv())
    write(folder / "items.csv", "item_id,title\n" + "".join(f"i{i},T{i}\n" for i in range(30)))
    result = prepare(vtk, tmp_path, "csv", folder, "-O", "item_columns={title: name}")
    assert_error(result, "items.csv:1:", "item_columns.title")


@pytest.mark.parametrize(
    ("row", "field", "problem"),
    [
        ('{"user_id": "u\\u0000x", "item_id": "i1", "timestamp": 1600000000}', "user_id", "NUL"),
        ('{"user_id": "u1", "item_id": "i\\u0007", "timestamp": 1600000000}', "item_id", "control"),
        ('{"user_id": "u1", "item_id": "i1", "timestamp": -1}', "timestamp", "before 1970"),
        ('{"user_id": "u1", "item_id": "i1", "timestamp": "2100-01-01"}', "timestamp", "future"),
        ('{"user_id": "u1", "item_id": "i1", "timestamp": 4102444800}', "timestamp", "future"),
        ('{"user_id": "u1", "item_id": "i1", "timestamp": "1850-05-01"}', "timestamp", "1900"),
    ],
)
def test_implausible_values_are_errors(vtk, tmp_path, row, field, problem):
    good = '{"user_id": "u1", "item_id": "i2", "timestamp": 1600000000}'
    file = write(tmp_path / "log.jsonl", good + "\n" + row + "\n")
    result = prepare(vtk, tmp_path, "jsonl", file)
    text = result.err.replace("\\x00", "NUL")
    assert_error(result, "log.jsonl:2:", f"field '{field}'")
    assert problem in text or problem.lower() in text.lower(), text


def test_implausible_values_are_counted_under_skip(vtk, tmp_path):
    text = log_csv() + "u0,i1,-5\nu0,i2,4102444800\n"
    file = write(tmp_path / "log.csv", text)
    result = prepare(vtk, tmp_path, "csv", file, "--on-error", "skip")
    assert result.code == 0, result.err
    assert "skipped 2 row(s)" in result.err
    assert "before 1970" in result.err and "in the future" in result.err


def test_synthea_dates_before_1970_are_real(tmp_path):
    """Healthcare histories start at birth: an ISO date in 1950 is kept."""
    from toolkit.sources.parsing import iso_time

    assert iso_time("1950-03-01", "START").year == 1950


# --- source options checked before any data is read ----------------------------------


@pytest.mark.parametrize(
    ("source", "option", "parts"),
    [
        ("csv", "columns=uid", ["-O columns", "valid dictionary", "'uid'"]),
        ("csv", "colums={user: uid}", ["colums", "takes no such option", "columns"]),
        ("csv", "timestamp_format=weekly", ["timestamp_format", "'weekly'"]),
        ("synthea", "kinds=encounter", ["kinds", "Sequence"]),
        ("synthetic", "n_users=many", ["n_users", "integer"]),
        ("csv", "columns={user: [", ["invalid YAML value", "line 1"]),
        ("csv", "x=!!python/object:os.system", ["invalid YAML value", "python/object"]),
    ],
)
def test_bad_source_options_fail_before_reading(vtk, tmp_path, source, option, parts):
    missing = tmp_path / "never-read"  # a path that does not exist: options fail first
    result = prepare(vtk, tmp_path, source, missing, "-O", option)
    assert_error(result, *parts)
    assert "no such file" not in result.err


def test_bad_task_option_fails_before_reading(vtk, tmp_path):
    result = prepare(vtk, tmp_path, "csv", tmp_path / "never-read", "--n-candidates", "1")
    assert_error(result, "--n-candidates")
