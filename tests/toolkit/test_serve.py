"""``vtk serve`` on 127.0.0.1: the CLI as a subprocess (template verbalizer, the openai
reasoner on a fake server) and the service in-process (an LLM verbalizer on a tiny model,
its verbalizations reused from the store on a repeated history)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.toolkit.fake_openai import Reply, chat_body, fake_server
from toolkit.sources import read_source
from toolkit.tasks import TaskConfig, TaskSet, prepare_tasks

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tasks_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("tasks") / "syn"
    prepare_tasks(read_source("synthetic", None, n_users=5, seed=2), out, TaskConfig())
    return out


def post(url, body):
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def payload(example, n_history=5):
    return {
        "user_id": example.user_id,
        "history": [x.to_json() for x in example.history.interactions[-n_history:]],
        "candidates": list(example.candidates),
    }


def test_vtk_serve_answers_rerank_requests(tasks_dir, tmp_path):
    example = TaskSet.load(tasks_dir).split("test")[0]
    with fake_server(default=lambda body: Reply(body=chat_body(["C"]))) as oracle:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
        cmd = [sys.executable, "-c", "from toolkit.cli import entry; entry()", "serve"]
        cmd += ["--tasks", str(tasks_dir), "--port", "0", "--reasoner", "openai"]
        cmd += ["--reasoner-option", "model=fake-model", "--reasoner-option"]
        cmd += [f"base_url={oracle.url}", "--cache", str(tmp_path / "store")]
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            line = proc.stdout.readline()
            assert "serving template + openai on http://127.0.0.1:" in line, proc.stderr.read()
            url = line.strip().rsplit(" ", 1)[-1]
            with urllib.request.urlopen(url + "/health", timeout=30) as response:
                assert json.loads(response.read())["status"] == "ok"
            status, answer = post(url + "/rerank", payload(example))
            assert status == 200, answer
            # the oracle answered label C: the candidate shown third comes first
            (seen,) = oracle.seen
            prompt = seen.body["messages"][0]["content"]
            assert answer["pick"] == answer["ranking"][0]
            assert sorted(answer["ranking"]) == sorted(example.candidates)
            assert answer["context"] and answer["context"] in prompt
            status, error = post(url + "/rerank", {"history": [], "candidates": ["nope", "x"]})
            assert status == 400
            assert any(p.startswith("history") for p in error["problems"])
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def test_service_reuses_llm_verbalizations(tasks_dir, tmp_path, tokenizer, tiny_lm):
    from toolkit.backends.base import SamplingParams
    from toolkit.backends.transformers_backend import TransformersGenerator
    from toolkit.reasoners.llm import LLMReasoner
    from toolkit.server import RerankService, make_server
    from toolkit.verbalization_cache import CachedVerbalizer
    from toolkit.verbalizers.actions import ActionsVerbalizer

    tasks = TaskSet.load(tasks_dir)
    example = tasks.split("test")[0]
    generator = TransformersGenerator(tiny_lm, tokenizer)
    verbalizer = CachedVerbalizer(
        ActionsVerbalizer(generator, tokenizer=tokenizer, params=SamplingParams(temperature=0)),
        tmp_path / "store",
    )
    reasoner = LLMReasoner(tasks.catalog, tiny_lm, tokenizer)
    server = make_server(RerankService(verbalizer, reasoner, tasks.catalog), port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        first = post(url + "/rerank", payload(example, 2))
        again = post(url + "/rerank", payload(example, 2))
        unknown = post(url + "/rerank", {**payload(example, 2), "candidates": ["zzz", "yyy"]})
    finally:
        server.shutdown()
        server.server_close()
    assert first[0] == again[0] == 200
    assert first[1] == again[1]
    assert (verbalizer.misses, verbalizer.hits) == (1, 1)
    assert unknown[0] == 400 and "candidates.0: unknown item 'zzz'" in unknown[1]["problems"]
    scores = first[1]["scores"]
    ranked = [example.candidates.index(c) for c in first[1]["ranking"]]
    assert [scores[i] for i in ranked] == sorted(scores, reverse=True)
