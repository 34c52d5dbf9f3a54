"""``vtk verbalize`` / ``verbalize_examples``: rows, resume, crash recovery, validation."""

from __future__ import annotations

import json

import pytest

from toolkit.cli import main
from toolkit.sources import read_source
from toolkit.tasks import TaskConfig, TaskSet, prepare_tasks
from toolkit.verbalize import read_rows, verbalize_examples
from toolkit.verbalizers.heuristic import HeuristicActionsVerbalizer

KEYS = {
    "example_id",
    "key",
    "window",
    "weights",
    "verbalizer",
    "text",
    "output",
    "context",
    "grammar",
    "valid",
    "chars",
    "tokens",
    "template_chars",
    "template_tokens",
    "compression",
    "meta",
}


@pytest.fixture(scope="module")
def tasks_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("tasks") / "syn"
    dataset = read_source("synthetic", None, n_users=12, seed=3)
    prepare_tasks(dataset, out, TaskConfig(max_history=30))
    return out


@pytest.fixture(scope="module")
def tasks(tasks_dir):
    return TaskSet.load(tasks_dir)


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_cli_writes_rows_that_validate(capsys, tasks_dir, tmp_path):
    out = tmp_path / "v.jsonl"
    code = main(
        [
            "verbalize",
            "--tasks",
            str(tasks_dir),
            "--verbalizer",
            "heuristic_actions",
            "--max-history",
            "8",
            "--batch-size",
            "3",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    rows = lines(out)
    n_test = len(TaskSet.load(tasks_dir).split("test"))
    assert len(rows) == n_test and len({r["example_id"] for r in rows}) == n_test
    for row in rows:
        assert set(row) == KEYS
        assert row["grammar"] == "action_plan" and row["valid"] is True
        assert row["context"]["n_interactions"] == len(json.loads(row["output"])) <= 8
        assert row["tokens"] > 0 and row["template_tokens"] > 0
        assert row["compression"] == pytest.approx(row["tokens"] / row["template_tokens"])
    capsys.readouterr()
    assert main(["validate", "--grammar", "action_plan", str(out)]) == 0
    assert f"{n_test} valid / {n_test} total" in capsys.readouterr().out
    # the same file checked against the wrong grammar fails: validation really ran
    assert main(["validate", "--grammar", "rewrite", str(out), "--quiet"]) == 1


def test_template_rows_have_no_output_and_compress_to_one(tasks, tmp_path):
    from toolkit.verbalizers.template import TemplateVerbalizer

    rows = verbalize_examples(
        tasks.split("val")[:4], tasks.catalog, TemplateVerbalizer(), max_history=5, progress=False
    )
    assert [r["output"] for r in rows] == [None] * 4
    assert all(r["grammar"] is None and r["compression"] == 1.0 for r in rows)
    assert all(
        r["text"].count("\n") + 1 == min(5, len(ex.history))
        for r, ex in zip(rows, tasks.split("val")[:4], strict=True)
    )


def test_resume_skips_done_ids_and_appends_only_new(tasks, tmp_path):
    out = tmp_path / "v.jsonl"
    examples = tasks.split("test")
    verbalizer = HeuristicActionsVerbalizer()
    first = verbalize_examples(
        examples[:5], tasks.catalog, verbalizer, batch_size=2, out_path=out, progress=False
    )
    before = out.read_bytes()
    calls = []
    original = verbalizer.verbalize_batch
    verbalizer.verbalize_batch = lambda hs, c: calls.append(len(hs)) or original(hs, c)
    rows = verbalize_examples(
        examples, tasks.catalog, verbalizer, batch_size=4, out_path=out, progress=False
    )
    assert sum(calls) == len(examples) - 5
    assert out.read_bytes().startswith(before)  # existing rows untouched
    assert [r["example_id"] for r in lines(out)] == [ex.example_id for ex in examples]
    assert rows[:5] == first and len(rows) == len(examples)
    calls.clear()
    verbalize_examples(examples, tasks.catalog, verbalizer, out_path=out, progress=False)
    assert calls == [] and len(lines(out)) == len(examples)


def test_partial_last_line_is_dropped_with_a_warning(tasks, tmp_path):
    out = tmp_path / "v.jsonl"
    examples = tasks.split("test")[:4]
    verbalizer = HeuristicActionsVerbalizer()
    verbalize_examples(examples[:3], tasks.catalog, verbalizer, out_path=out, progress=False)
    data = out.read_bytes()
    cut = data.rstrip(b"\n").rfind(b"\n") + 1 + 40  # crash 40 bytes into the third row
    out.write_bytes(data[:cut])
    with pytest.warns(UserWarning, match="partial last line"):
        rows = verbalize_examples(examples, tasks.catalog, verbalizer, out_path=out, progress=False)
    assert [r["example_id"] for r in lines(out)] == [
        examples[0].example_id,
        examples[1].example_id,
        examples[2].example_id,
        examples[3].example_id,
    ]
    assert len(rows) == 4


def test_corrupt_middle_line_raises_input_error(tmp_path):
    from toolkit.errors import InputError

    out = tmp_path / "v.jsonl"
    out.write_text('{"example_id": "a"}\nnot json\n{"example_id": "b"}\n')
    with pytest.raises(InputError, match=r"v\.jsonl.*2"):
        read_rows(out)


@pytest.mark.parametrize(
    ("name", "grammar"), [("actions", "action_plan"), ("numbered_actions", "numbered_plan")]
)
def test_llm_verbalizer_rows_keep_the_raw_output(
    tasks, tokenizer, tiny_lm, tmp_path, name, grammar
):
    from toolkit.backends.base import SamplingParams
    from toolkit.backends.transformers_backend import TransformersGenerator
    from toolkit.verbalizers import get_verbalizer

    generator = TransformersGenerator(tiny_lm, tokenizer, batch_size=4)
    verbalizer = get_verbalizer(name)(
        generator, tokenizer=tokenizer, params=SamplingParams(temperature=0.0, seed=0)
    )
    out = tmp_path / "a.jsonl"
    rows = verbalize_examples(
        tasks.split("test")[:2],
        tasks.catalog,
        verbalizer,
        batch_size=2,
        max_history=4,
        out_path=out,
        progress=False,
    )
    for row in rows:
        assert row["grammar"] == grammar and isinstance(row["output"], str)
        assert len(json.loads(row["output"])) == row["context"]["n_interactions"]
        assert len(row["meta"]["codes"]) == row["context"]["n_interactions"]
        assert "output" not in row["meta"]
    assert main(["validate", "--grammar", grammar, str(out), "--quiet"]) == 0


def test_numbered_and_array_plans_of_the_same_codes_give_the_same_text(tasks, tokenizer):
    from grammars.numbered_plan import numbered_text
    from toolkit.verbalizers.actions import plan_to_verbalization
    from toolkit.verbalizers.heuristic import heuristic_codes

    for ex in tasks.split("test")[:4]:
        codes = heuristic_codes(ex.history, tasks.domain, catalog=tasks.catalog)
        array = plan_to_verbalization(json.dumps(codes), ex.history, tasks.catalog, tasks.domain)
        keyed = plan_to_verbalization(numbered_text(codes), ex.history, tasks.catalog, tasks.domain)
        assert keyed.valid and keyed.text == array.text and keyed.meta["codes"] == codes
    two = ex.history.model_copy(update={"interactions": ex.history.interactions[:2]})
    swapped = plan_to_verbalization('{"2":"keep","1":"keep"}', two, tasks.catalog, tasks.domain)
    assert not swapped.valid and "line numbers" in swapped.meta["error"]
