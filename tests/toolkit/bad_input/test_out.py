"""``--out`` and ``--overwrite``: vtk replaces only what it wrote, never the user's files.

Also the shared write mechanism under them (``toolkit.io``): pid-named temporary paths, the
removal of stale ones, and permissions that follow the umask.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from tests.toolkit.bad_input.conftest import assert_error, log_csv, write
from toolkit.errors import InputError
from toolkit.io import MANIFEST, atomic_dir, atomic_file, remove_stale_temps, temp_prefix


@pytest.fixture
def data(tmp_path):
    return write(tmp_path / "data" / "interactions.csv", log_csv()).parent


def prepare(vtk, data, out, *extra):
    return vtk("data", "prepare", "csv", "--path", data, "--out", out, *extra)


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_overwrite_never_deletes_a_folder_of_user_files(vtk, tmp_path, data):
    mine = tmp_path / "mine"
    write(mine / "thesis.tex", "years of work")
    write(mine / "sub" / "notes.txt", "more")
    before = snapshot(mine)
    result = prepare(vtk, data, mine, "--overwrite")
    assert_error(result, "mine", "vtk did not write")
    assert snapshot(mine) == before


def test_overwrite_never_deletes_a_user_file_added_to_a_task_folder(vtk, tmp_path, data):
    out = tmp_path / "tasks"
    assert prepare(vtk, data, out).code == 0
    write(out / "my-analysis.ipynb", "{}")
    result = prepare(vtk, data, out, "--overwrite")
    assert_error(result, "my-analysis.ipynb", "vtk did not write")
    assert (out / "my-analysis.ipynb").read_text() == "{}"
    assert (out / "train.jsonl").is_file()


def test_overwrite_replaces_a_task_folder_vtk_wrote(vtk, tmp_path, data):
    out = tmp_path / "tasks"
    assert prepare(vtk, data, out).code == 0
    assert prepare(vtk, data, out, "--overwrite", "--seed", "3").code == 0
    assert (out / MANIFEST).is_file() and '"seed": 3' in (out / "meta.json").read_text()


def test_overwrite_of_a_legacy_task_folder_recognised_by_its_meta(vtk, tmp_path, data):
    out = tmp_path / "tasks"
    assert prepare(vtk, data, out).code == 0
    (out / MANIFEST).unlink()  # as written before manifests existed
    assert prepare(vtk, data, out, "--overwrite").code == 0


@pytest.mark.parametrize("where", ["same", "parent", "file"])
def test_out_equal_to_or_containing_the_input_is_refused(vtk, tmp_path, data, where):
    path = data / "interactions.csv" if where == "file" else data
    out = tmp_path if where == "parent" else data
    before = snapshot(data)
    result = prepare(vtk, path, out, "--overwrite")
    assert_error(result, "is or contains the input --path")
    assert snapshot(data) == before


def test_out_that_is_a_file_is_never_replaced(vtk, tmp_path, data):
    out = write(tmp_path / "report.pdf", "precious")
    result = prepare(vtk, data, out, "--overwrite")
    assert_error(result, "report.pdf", "not a folder vtk wrote")
    assert out.read_text() == "precious"


def test_out_exists_without_overwrite(vtk, tmp_path, data):
    (tmp_path / "empty").mkdir()
    assert_error(prepare(vtk, data, tmp_path / "empty"), "exists", "--overwrite")


def test_atomic_dir_refuses_a_foreign_folder_before_any_work(tmp_path):
    foreign = tmp_path / "x"
    write(foreign / "keep.txt", "k")
    with pytest.raises(InputError), atomic_dir(foreign):
        raise AssertionError("the body must not run")
    assert (foreign / "keep.txt").read_text() == "k"


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    target = tmp_path / "out"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)
    here = temp_prefix(target).rsplit("-", 2)[0]  # .out.vtk-tmp-<host>
    stale_dir = tmp_path / f"{here}-{pid}-abc"
    write(stale_dir / "train.jsonl", "half")
    stale_file = write(tmp_path / f"{here}-{pid}-def", "half")
    elsewhere = write(tmp_path / f".out.vtk-tmp-00000000-{pid}-jkl", "another host's")
    live = write(tmp_path / f"{temp_prefix(target)}ghi", "mine, in use")
    unrelated = write(tmp_path / ".out.backup", "user's")
    removed = remove_stale_temps(target)
    assert sorted(removed) == sorted([stale_dir, stale_file])
    assert live.exists() and unrelated.exists() and elsewhere.exists()


def test_temporaries_carry_the_pid(tmp_path):
    seen = []
    with atomic_dir(tmp_path / "d") as tmp:
        seen.append(tmp.name)
    with atomic_file(tmp_path / "f.txt"):
        seen += [p.name for p in tmp_path.iterdir() if p.name.startswith(".f.txt")]
    assert len(seen) == 2 and all(f"-{os.getpid()}-" in n for n in seen), seen


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_permissions_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        with atomic_dir(tmp_path / "d") as tmp:
            (tmp / "a.txt").write_text("a")
        with atomic_file(tmp_path / "f.txt") as fh:
            fh.write("f")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o777 & ~umask
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "d" / MANIFEST).stat().st_mode) == 0o666 & ~umask


def test_a_file_added_while_vtk_worked_is_kept(tmp_path):
    target = tmp_path / "d"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("1")
    with pytest.raises(InputError, match=r"late\.txt"), atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("2")
        write(target / "late.txt", "the user's, written meanwhile")
    assert (target / "late.txt").is_file() and (target / "a.txt").read_text() == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["d"]  # no temporary left behind


def test_no_resume_never_empties_a_file_that_is_not_a_verbalization_file(vtk, tmp_path, data):
    tasks = tmp_path / "tasks"
    assert prepare(vtk, data, tasks).code == 0
    mine = write(tmp_path / "results.jsonl", '{"my": "notes"}\n{"kept": true}\n')
    result = vtk(
        "verbalize", "--tasks", tasks, "--verbalizer", "template", "--split", "test",
        "--no-resume", "--no-cache", "--out", mine,
    )  # fmt: skip
    assert_error(result, "results.jsonl", ":1")
    assert mine.read_text() == '{"my": "notes"}\n{"kept": true}\n'


def test_no_resume_restarts_a_verbalization_file_vtk_wrote(vtk, tmp_path, data):
    tasks, out = tmp_path / "tasks", tmp_path / "v.jsonl"
    assert prepare(vtk, data, tasks).code == 0
    args = ("verbalize", "--tasks", tasks, "--verbalizer", "template", "--split", "test")
    assert vtk(*args, "--no-cache", "--out", out).code == 0
    first = out.read_text()
    assert vtk(*args, "--no-cache", "--no-resume", "--out", out).code == 0
    assert out.read_text() == first


@pytest.mark.parametrize("foreign", ["checkpoints/my-model.bin", "final/weights.bin"])
def test_train_overwrite_never_deletes_what_vtk_did_not_write(tmp_path, foreign):
    from toolkit.errors import ConfigError
    from trainers.run import METRICS, prepare_output

    out = tmp_path / "run"
    write(out / METRICS, "")
    write(out / "checkpoints" / "checkpoint-2" / "trainer_state.json", "{}")
    write(out / foreign, "the user's")
    with pytest.raises(ConfigError, match="did not write"):
        prepare_output(out, resume=False, overwrite=True)
    assert (out / foreign).read_text() == "the user's"
    assert (out / "checkpoints" / "checkpoint-2").is_dir()


def test_train_overwrite_clears_a_vtk_run(tmp_path):
    from trainers.run import METRICS, prepare_output

    out = tmp_path / "run"
    write(out / METRICS, "{}\n")
    write(out / "checkpoints" / "checkpoint-2" / "trainer_state.json", "{}")
    write(out / "final" / "vtk.json", "{}")
    assert prepare_output(out, resume=False, overwrite=True) is None
    assert sorted(p.name for p in out.iterdir()) == []


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_report_plots_follow_the_umask(tmp_path, umask):
    from toolkit.report import plot_training

    old = os.umask(umask)
    try:
        path = plot_training(
            [{"name": "r", "stage": "verbalizer", "curve": [{"step": 1, "reward": 0.5}]}],
            tmp_path / "curves.png",
        )
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
