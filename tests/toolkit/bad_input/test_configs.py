"""Config files and ``KEY=VALUE`` overrides: every mistake is one located message."""

from __future__ import annotations

import pytest

from tests.toolkit.bad_input.conftest import assert_error, write
from toolkit.cli.demo import PRESET

TRAIN = ["train", "verbalizer", "--config"]


@pytest.fixture
def config(tmp_path):
    text = PRESET.read_text(encoding="utf-8")
    return write(tmp_path / "exp.yaml", text)


@pytest.mark.parametrize(
    ("override", "parts"),
    [
        ("eval.limit=[1, 2", ["override 'eval.limit=[1, 2'", "invalid YAML value"]),
        ("eval.limit=!!python/object:os.system ls", ["override", "python/object"]),
        ("eval.limit=abc", ["override 'eval.limit=abc'", "field 'eval.limit'"]),
        ("eval.limit", ["not of the form key=value"]),
        ("=3", ["empty key"]),
        ("eval..limit=3", ["empty key"]),
        ("eval.limit=" + "[" * 5000, ["override", "eval.limit"]),
        ("seed.x=1", ["'seed' is not a mapping"]),
        ("data.options.n_users=many", ["data.options", "n_users", "integer"]),
        ("data.options.colour=red", ["colour", "takes no such option"]),
        ("data.tasks.negatives=sometimes", ["data.tasks", "negatives", "'sometimes'"]),
        ("data.tasks.max_histroy=5", ["data.tasks", "max_histroy", "Extra inputs"]),
    ],
)
def test_bad_experiment_overrides(vtk, tmp_path, config, override, parts):
    result = vtk("experiment", "--config", config, "--out", tmp_path / "run", override)
    assert_error(result, *parts)
    assert not (tmp_path / "run").exists()


def test_demo_takes_the_same_overrides(vtk, tmp_path):
    result = vtk("demo", "--out", tmp_path / "run", "data.options.columns=uid")
    assert_error(result, "columns", "takes no such option")


@pytest.mark.parametrize(("flags", "preset", "out"), [((), "synthetic_demo.yaml", "runs/demo"),
    (("--full",), "synthetic_demo_full.yaml", "runs/demo-full")])  # fmt: skip
def test_demo_runs_its_preset(vtk, monkeypatch, flags, preset, out):
    import toolkit.cli.experiment as experiment

    seen = {}

    def run(config, path, out_dir, quiet):
        seen.update(config=config, path=path, out=out_dir)
        return {"summary": ["(summary)"]}

    monkeypatch.setattr(experiment, "run", run)
    result = vtk("demo", *flags, "eval.limit=3")
    assert result.code == 0, result.err
    assert seen["path"].name == preset and str(seen["out"]) == out
    assert seen["config"].eval.limit == 3
    assert f"{len(seen['config'].rows)} configurations" in result.out
    assert "(summary)" in result.out and "min" in result.out and "(wall time)" in result.out


@pytest.mark.parametrize(
    ("content", "parts"),
    [
        (b"stage: verbalizer\nname: caf\xe9\n", ["c.yaml", "not UTF-8"]),
        (b"stage: verbalizer\ngrpo:\n  max_steps: [1\n", ["c.yaml:", "invalid YAML"]),
        (b"stage: !!python/object/apply:os.system [ls]\n", ["c.yaml", "invalid YAML"]),
        (b"- a\n- b\n", ["c.yaml", "top level must be a mapping"]),
        (
            b"output_dir: x\ndata:\n  tasks: t\ngrpo:\n  max_steps: ten\n",
            ["c.yaml:5:", "field 'grpo.max_steps'"],
        ),
    ],
    ids=["not-utf8", "yaml-syntax", "python-tag", "not-a-mapping", "field-type"],
)
def test_bad_config_file(vtk, tmp_path, content, parts):
    assert_error(vtk(*TRAIN, write(tmp_path / "c.yaml", content)), *parts)


def test_config_missing(vtk, tmp_path):
    assert_error(vtk(*TRAIN, tmp_path / "nope.yaml"), "nope.yaml", "not found")


def test_internal_errors_show_no_traceback_without_debug(vtk, monkeypatch):
    import toolkit.cli.data as data

    def boom(*_a, **_k):
        raise ZeroDivisionError("deliberate")

    monkeypatch.setattr(data, "_task_config", boom)
    result = vtk("data", "prepare", "synthetic", "--out", "unused")
    assert_error(result, "internal error", "ZeroDivisionError", "--debug", code=3)


def test_debug_shows_the_traceback(vtk, monkeypatch):
    import toolkit.cli.data as data

    def boom(*_a, **_k):
        raise ZeroDivisionError("deliberate")

    monkeypatch.setattr(data, "_task_config", boom)
    for args, env in ((["--debug"], None), ([], "1")):
        if env:
            monkeypatch.setenv("VTK_DEBUG", env)
        result = vtk(*args, "data", "prepare", "synthetic", "--out", "unused")
        assert result.code == 3
        assert "Traceback" in result.err and "deliberate" in result.err


def test_experiment_applies_key_value_overrides(vtk, tmp_path, config, monkeypatch):
    """Issue 12, item 2: ``vtk experiment`` takes ``KEY=VALUE`` like ``vtk train``."""
    import toolkit.experiment

    seen = {}

    def fake_run(cfg, out, **_):
        seen.update(config=cfg, out=out)
        return {"summary": ["ok"]}

    monkeypatch.setattr(toolkit.experiment, "run_experiment", fake_run)
    args = ["data.options.n_users=12", "eval.limit=3", "data.tasks.max_history=5"]
    result = vtk("experiment", "--config", config, "--out", tmp_path / "run", *args)
    assert result.code == 0, result.err
    cfg = seen["config"]
    assert (cfg.data.options["n_users"], cfg.eval.limit, cfg.data.tasks["max_history"]) == (
        12,
        3,
        5,
    )
    assert (tmp_path / "run" / "vtk.log").is_file()


def test_a_comma_in_an_unquoted_row_name_says_to_quote_it(vtk, tmp_path):
    config = write(
        tmp_path / "exp.yaml",
        'name: x\nrows:\n  - {name: rewrite, ranking reward, table: "2", verbalizer: rewrite}\n',
    )
    result = vtk("experiment", "--config", config, "--out", tmp_path / "run")
    assert_error(result, "rows.0.ranking reward", "quote that value", '"..., ranking reward"')
    assert not (tmp_path / "run").exists()
