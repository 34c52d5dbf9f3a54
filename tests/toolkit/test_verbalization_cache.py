"""Verbalizations cached by content: ``vtk verbalize`` run again on unchanged input
generates nothing; a changed checkpoint (or decoding setting) generates again."""

from __future__ import annotations

import json

import pytest
import torch

from toolkit.backends.transformers_backend import TransformersGenerator
from toolkit.cli import main
from toolkit.sources import read_source
from toolkit.tasks import TaskConfig, prepare_tasks


@pytest.fixture(scope="module")
def tasks_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("tasks") / "syn"
    dataset = read_source("synthetic", None, n_users=6, seed=5)
    prepare_tasks(dataset, out, TaskConfig(max_history=20))
    return out


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, tokenizer):
    """Two tiny checkpoints that differ in one weight."""
    from toolkit.models import tiny_model

    root = tmp_path_factory.mktemp("ckpt")
    model = tiny_model(tokenizer, hidden_size=32, layers=1)
    model.save_pretrained(root / "a")
    tokenizer.save_pretrained(root / "a")
    with torch.no_grad():
        model.model.embed_tokens.weight[0, 0] += 1.0
    model.save_pretrained(root / "b")
    tokenizer.save_pretrained(root / "b")
    return root / "a", root / "b"


@pytest.fixture
def generation_calls(monkeypatch):
    calls = []
    real = TransformersGenerator.generate

    def counting(self, prompts, *args, **kwargs):
        calls.append(len(prompts))
        return real(self, prompts, *args, **kwargs)

    monkeypatch.setattr(TransformersGenerator, "generate", counting)
    return calls


def verbalize(tasks_dir, model, out, cache, *extra):
    args = ["verbalize", "--tasks", str(tasks_dir), "--verbalizer", "actions"]
    args += ["--model", str(model), "--limit", "2", "--max-history", "2", "--split", "test"]
    return main([*args, "--out", str(out), "--cache", str(cache), *extra])


def texts(path):
    return [json.loads(line)["text"] for line in path.read_text().splitlines()]


def test_rerun_generates_nothing_and_a_new_checkpoint_recomputes(
    tasks_dir, checkpoints, generation_calls, tmp_path, capsys
):
    a, b = checkpoints
    cache = tmp_path / "store"
    assert verbalize(tasks_dir, a, tmp_path / "1.jsonl", cache) == 0
    assert sum(generation_calls) == 2
    # a fresh output file (no resume possible): everything comes from the store
    assert verbalize(tasks_dir, a, tmp_path / "2.jsonl", cache) == 0
    assert sum(generation_calls) == 2
    assert texts(tmp_path / "2.jsonl") == texts(tmp_path / "1.jsonl")
    assert "2 reused, 0 generated" in capsys.readouterr().out
    # another checkpoint: every history is generated again
    assert verbalize(tasks_dir, b, tmp_path / "3.jsonl", cache) == 0
    assert sum(generation_calls) == 4
    # --no-cache never reads the store
    assert verbalize(tasks_dir, a, tmp_path / "4.jsonl", cache, "--no-cache") == 0
    assert sum(generation_calls) == 6


def test_key_changes_with_every_part(tasks_dir, tokenizer):
    from toolkit.backends.base import SamplingParams
    from toolkit.models import tiny_model
    from toolkit.tasks import TaskSet
    from toolkit.verbalization_cache import verbalization_key
    from toolkit.verbalizers.actions import ActionsVerbalizer

    tasks = TaskSet.load(tasks_dir)
    example = tasks.split("test")[0]
    history = example.history.last(4)
    gen = TransformersGenerator(tiny_model(tokenizer, hidden_size=32, layers=1), tokenizer)
    verbalizer = ActionsVerbalizer(gen, tokenizer=tokenizer, params=SamplingParams(temperature=0))
    key = verbalization_key(verbalizer, history, tasks.catalog, "w1")
    assert key == verbalization_key(verbalizer, history, tasks.catalog, "w1")
    assert key != verbalization_key(verbalizer, history, tasks.catalog, "w2")
    assert key != verbalization_key(verbalizer, example.history.last(5), tasks.catalog, "w1")
    verbalizer.params = SamplingParams(temperature=0, max_new_tokens=7)
    assert key != verbalization_key(verbalizer, history, tasks.catalog, "w1")


def test_tokenizer_identity_follows_content_not_folder(tokenizer, tmp_path):
    """A model folder copied elsewhere keeps its cache entries; another vocabulary does not."""
    from transformers import AutoTokenizer

    from toolkit.verbalize import tokenizer_identity

    tokenizer.save_pretrained(tmp_path / "a")
    tokenizer.save_pretrained(tmp_path / "b")
    a = AutoTokenizer.from_pretrained(tmp_path / "a")
    b = AutoTokenizer.from_pretrained(tmp_path / "b")
    assert a.name_or_path != b.name_or_path
    assert tokenizer_identity(a) == tokenizer_identity(b) == tokenizer_identity(tokenizer)
    b.add_tokens(["<vtk-extra>"])
    assert tokenizer_identity(b) != tokenizer_identity(a)
    assert tokenizer_identity(None) is None
