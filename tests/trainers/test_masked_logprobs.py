"""Training log-probs under the grammar mask: the replayed masks and the masked log-softmax
agree with what the sampler reported, normalise over the allowed set, and carry gradients."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from grammars.base import Constraint
from toolkit.backends.base import SamplingParams
from trainers.masked_logprobs import allowed_masks, fit_vocab, masked_token_logprobs

torch = pytest.importorskip("torch")

PLAN = Constraint(
    "json_schema",
    json.dumps(
        {"type": "array", "items": {"enum": ["drop", "keep"]}, "minItems": 3, "maxItems": 3}
    ),
    "llguidance",
    40,
)
PLAN_CORE = Constraint("json_schema", PLAN.spec, "outlines_core", 40)
REGEX = Constraint("regex", r"[a-c]{2,5}!", "outlines_core", 10)
CHOICE = Constraint("choice", json.dumps(list("ABCD")), "xgrammar", 2)
CONSTRAINTS = [PLAN, PLAN_CORE, REGEX, CHOICE, None]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def samples(tiny_lm, tokenizer):
    """Two samples per constraint from the transformers backend, one row per sample."""
    from toolkit.backends.transformers_backend import TransformersGenerator

    gen = TransformersGenerator(tiny_lm, tokenizer, batch_size=10)
    prompts = [f"prompt {i}" for i in range(len(CONSTRAINTS))]
    out = gen.generate(prompts, CONSTRAINTS, n=2, params=SamplingParams(seed=5, max_new_tokens=24))
    rows = [(c, s) for c, group in zip(CONSTRAINTS, out, strict=True) for s in group]
    return [c for c, _ in rows], [s for _, s in rows]


def training_logits(model, completions, pad_id):
    """What a trainer computes: one right-padded forward over prompt + completion,
    ``[B, T, V]`` logits predicting each completion token, and the padded ids ``[B, T]``."""
    width = max(len(c.token_ids) for c in completions)
    logits, ids = [], []
    for c in completions:
        seq = torch.tensor([c.prompt_ids + c.token_ids + [pad_id] * (width - len(c.token_ids))])
        start = len(c.prompt_ids) - 1
        logits.append(model(seq).logits[0, start : start + width].float())
        ids.append(seq[0, start + 1 : start + 1 + width])
    return torch.stack(logits), torch.stack(ids)


def lengths_mask(completions, width):
    return torch.tensor([[t < len(c.token_ids) for t in range(width)] for c in completions])


def test_replay_matches_the_samplers_logprobs(samples, tiny_lm, tokenizer):
    constraints, completions = samples
    pad = tokenizer.pad_token_id
    with torch.no_grad():
        logits, ids = training_logits(tiny_lm, completions, pad)
    vocab = tiny_lm.config.vocab_size
    ragged = allowed_masks(constraints, tokenizer, [c.token_ids for c in completions], vocab)
    padded = allowed_masks(constraints, tokenizer, ids, vocab)  # as the GRPO trainer calls it
    valid = lengths_mask(completions, ids.size(1))
    assert torch.equal(ragged[valid], padded[valid])
    lp = masked_token_logprobs(logits, ids, padded)
    for b, c in enumerate(completions):
        n = len(c.token_ids)
        assert torch.allclose(lp[b, :n], torch.tensor(c.logprobs), atol=1e-5, rtol=0), b
        assert bool(padded[b, n:].all())  # past the end: everything allowed


def test_exp_over_the_allowed_set_sums_to_one(samples, tiny_lm, tokenizer):
    constraints, completions = samples
    c = completions[0]
    with torch.no_grad():
        logits, _ = training_logits(tiny_lm, [c], tokenizer.pad_token_id)
    allowed = allowed_masks([constraints[0]], tokenizer, [c.token_ids], logits.size(-1))
    for t in range(len(c.token_ids)):
        options = allowed[0, t].nonzero()[:, 0]
        k = options.numel()
        lp = masked_token_logprobs(
            logits[:, t : t + 1].expand(k, 1, -1),
            options[:, None],
            allowed[:, t : t + 1].expand(k, 1, -1),
        )
        assert lp.exp().sum().item() == pytest.approx(1.0, abs=1e-5)
    assert allowed[0].sum(-1).lt(logits.size(-1)).all()  # the grammar did restrict


def test_masked_is_at_least_unmasked(samples, tiny_lm, tokenizer):
    constraints, completions = samples
    with torch.no_grad():
        logits, ids = training_logits(tiny_lm, completions, tokenizer.pad_token_id)
    allowed = allowed_masks(constraints, tokenizer, ids, logits.size(-1))
    masked = masked_token_logprobs(logits, ids, allowed)
    full = logits.log_softmax(-1).gather(-1, ids[..., None])[..., 0]
    valid = lengths_mask(completions, ids.size(1))
    assert (masked[valid] >= full[valid] - 1e-5).all()  # float32 rounding at |lp| ~ 11
    for b, constraint in enumerate(constraints):  # no constraint: the plain log-softmax
        if constraint is None:
            assert torch.allclose(masked[b], full[b], atol=1e-5, rtol=0)
        else:
            assert (masked[b] - full[b])[valid[b]].sum() > 1.0


def test_gradients_flow_and_differ_from_unmasked(samples, tiny_lm, tokenizer):
    constraints, completions = samples
    with torch.no_grad():
        logits, ids = training_logits(tiny_lm, completions, tokenizer.pad_token_id)
    allowed = allowed_masks(constraints, tokenizer, ids, logits.size(-1))
    valid = lengths_mask(completions, ids.size(1)).float()
    advantages = torch.linspace(-1, 1, len(completions))[:, None]

    def grad(fn):
        x = logits.clone().requires_grad_(True)
        (-(fn(x) * valid * advantages).sum()).backward()
        return x.grad

    g_masked = grad(lambda x: masked_token_logprobs(x, ids, allowed))
    g_full = grad(lambda x: x.log_softmax(-1).gather(-1, ids[..., None])[..., 0])
    assert torch.isfinite(g_masked).all()
    assert g_masked.abs().sum() > 0
    assert not torch.allclose(g_masked, g_full, atol=1e-6)
    assert (g_masked[~allowed] == 0).all()  # forbidden tokens get no gradient
    for b, constraint in enumerate(constraints):
        if constraint is None:
            assert torch.allclose(g_masked[b], g_full[b], atol=1e-7)


def test_gradcheck_in_double():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 7, dtype=torch.double, requires_grad=True)
    ids = torch.tensor([[0, 3, 6], [1, 1, 2]])
    allowed = torch.rand(2, 3, 7) > 0.4
    allowed.scatter_(-1, ids[..., None], True)
    assert torch.autograd.gradcheck(lambda x: masked_token_logprobs(x, ids, allowed), (logits,))


def test_refused_token_and_past_end_positions(tokenizer):
    eos = tokenizer.eos_token_id
    letter = tokenizer.convert_tokens_to_ids("A")
    bad = tokenizer.convert_tokens_to_ids("Z")
    v = len(tokenizer)
    masks = allowed_masks([CHOICE, CHOICE], tokenizer, [[letter, eos, eos], [bad, letter, eos]], v)
    assert masks[0, 0].sum() == 4 and masks[0, 1].tolist().count(True) == 1 and masks[0, 1, eos]
    assert masks[0, 2].all()  # after the end token
    assert not masks[1, 0, bad] and masks[1, 1:].all()  # refused: replay stops there
    logits = torch.zeros(2, 3, v)
    lp = masked_token_logprobs(
        logits, torch.tensor([[letter, eos, eos], [bad, letter, eos]]), masks
    )
    assert lp[0, 0].exp().item() == pytest.approx(0.25) and lp[0, 1].item() == 0.0
    assert lp[1, 0].item() == float("-inf")


def test_model_vocab_wider_than_the_tokenizer(tokenizer):
    v = len(tokenizer)
    letter = tokenizer.convert_tokens_to_ids("B")
    masks = allowed_masks([CHOICE, None], tokenizer, [[letter], [letter]], v + 64)
    assert masks.shape == (2, 1, v + 64)
    assert not masks[0, 0, v:].any() and masks[1, 0].all()
    narrow = masks[..., :v]
    wide = fit_vocab(narrow, v + 64)
    assert torch.equal(wide, masks)
    assert torch.equal(fit_vocab(masks, v), narrow)
    logits = torch.randn(2, 1, v + 64)
    ids = torch.tensor([[letter], [letter]])
    assert torch.allclose(
        masked_token_logprobs(logits, ids, narrow), masked_token_logprobs(logits, ids, masks)
    )
    assert torch.allclose(
        masked_token_logprobs(logits, ids, narrow)[1], logits[1].log_softmax(-1)[:, letter]
    )


def test_module_does_not_import_trl():
    code = "import trainers.masked_logprobs, sys; print('trl' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
