"""The vllm backend on the embedded model (``make test-vllm``: runs in .venv-vllm).

Which log-probs vLLM returns, measured against vtk's masked log-probs
(``trainers.masked_logprobs``: replay the grammar on the completion, log-softmax over the
allowed tokens of ``logits / T``): both of vLLM's log-prob modes include the grammar mask
(the bitmask is applied to the logits before the sampler); ``raw_logprobs`` is the
temperature-1 distribution, ``processed_logprobs`` the temperature-``T`` one that vtk's
GRPO loss uses, so vtk ships ``processed_logprobs``.
"""

from __future__ import annotations

import gc
import json
import os

import pytest

from tests.toolkit.vllm_reference import CHOICE, PROMPTS, SCHEMA, vtk_logprobs
from toolkit.backends import get_backend
from toolkit.backends.base import SamplingParams
from toolkit.backends.vllm import VLLMGenerator
from toolkit.errors import MissingDependencyError

T = 0.7


def test_registered_and_says_how_to_install_when_absent():
    assert get_backend("vllm") is VLLMGenerator
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(MissingDependencyError, match="make vllm"):
            VLLMGenerator("embedded")


def test_an_llguidance_only_grammar_reaches_vllm_as_its_schema():
    """The rewrite's distinct-titles Lark grammar uses llguidance's ``%json``, which vLLM's
    default structured-output library does not read: vLLM gets the schema fallback."""
    pytest.importorskip("vllm", reason="vLLM is not installed here (make vllm)")
    from grammars import GrammarContext, get_grammar
    from toolkit.backends.vllm import structured_outputs

    ctx = GrammarContext(extra={"titles": ["Heat", "Kolya"], "aspects": ["Drama"]})
    constraint = get_grammar("rewrite").constraint(ctx)
    params = structured_outputs(constraint)
    assert params.json == json.loads(constraint.fallback) and params.grammar is None


@pytest.fixture(scope="module", params=["processed_logprobs", "raw_logprobs"])
def engine(request):
    pytest.importorskip("vllm", reason="vLLM is not installed here (make vllm)")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    gen = VLLMGenerator(
        "embedded",
        logprobs_mode=request.param,
        max_model_len=512,
        engine_kwargs={"enforce_eager": True},
    )
    yield request.param, gen
    del gen
    gc.collect()


@pytest.fixture(scope="module")
def reference():
    """The embedded model in transformers (float32) and vtk's masked log-probs."""
    from toolkit.models import load_model

    model, tokenizer = load_model("embedded")

    def logprobs(completion, constraint, temperature):
        return vtk_logprobs(
            model, tokenizer, completion.prompt_ids, completion.token_ids, constraint, temperature
        )

    return tokenizer, logprobs


@pytest.mark.vllm
def test_outputs_obey_the_grammar_with_n_samples_and_token_ids(engine, reference):
    _, gen = engine
    tokenizer, _ = reference
    out = gen.generate(PROMPTS, [CHOICE, SCHEMA], n=2, params=SamplingParams(temperature=T, seed=1))
    assert [len(row) for row in out] == [2, 2]
    for completion in out[0]:
        assert completion.text in ("Alpha", "Beta", "Gamma")
    for completion in out[1]:
        data = json.loads(completion.text)  # compact, complete JSON
        assert data["genre"] in ("drama", "comedy", "horror") and 0 <= data["n"] <= 9
        assert " " not in completion.text
    for row in out:
        for completion in row:
            assert len(completion.token_ids) == len(completion.logprobs) > 0
            assert completion.unmasked_logprobs == []  # constrained: one distribution only
            text = tokenizer.decode(completion.token_ids, skip_special_tokens=True)
            assert text == completion.text


@pytest.mark.vllm
def test_which_logprobs_mode_matches_vtks_masked_trainer(engine, reference):
    import torch

    mode, gen = engine
    _, logprobs = reference
    out = gen.generate(PROMPTS, [CHOICE, SCHEMA], n=2, params=SamplingParams(temperature=T, seed=2))
    matched_t = 1.0 if mode == "raw_logprobs" else T
    other_t = T if mode == "raw_logprobs" else 1.0
    gaps, other_gaps, mask_gaps = [], [], []
    for constraint, row in zip([CHOICE, SCHEMA], out, strict=True):
        for completion in row:
            got = torch.tensor(completion.logprobs)
            masked, unmasked = logprobs(completion, constraint, matched_t)
            other, _ = logprobs(completion, constraint, other_t)
            gaps.append(float((got - masked).abs().max()))
            other_gaps.append(float((got - other).abs().max()))
            mask_gaps.append(float((got - unmasked).abs().max()))
    print(f"{mode}: max |vllm - vtk masked(T={matched_t})| = {max(gaps):.2e}")
    assert max(gaps) < 1e-3  # the same distribution, float32 noise
    assert max(other_gaps) > 1e-2  # and not the other temperature's
    assert min(mask_gaps) > 0.1  # the grammar mask is in: far from the full-vocabulary value


@pytest.mark.vllm
def test_greedy_is_deterministic(engine):
    _, gen = engine
    params = SamplingParams(temperature=0.0)
    first = gen.generate(PROMPTS[:1], CHOICE, params=params)
    again = gen.generate(PROMPTS[:1], CHOICE, params=params)
    assert first[0][0].token_ids == again[0][0].token_ids
