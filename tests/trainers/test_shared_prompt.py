"""The shared-prompt forward and the chunked support log-probs give the plain path's
numbers: log-probs to 1e-5 and gradients with cosine > 0.9999, for G in {1, 4}, ragged
prompts and completions, with and without the sampler's supports."""

from __future__ import annotations

import pytest

from toolkit.backends.bitmask import pack, unpack

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture()
def lora_lm(tokenizer):
    """A tiny random Llama with a LoRA adapter whose B matrices are non-zero (so the
    adapter changes the outputs and has gradients on both factors)."""
    from peft import LoraConfig, get_peft_model

    from toolkit.models import tiny_model

    torch.manual_seed(0)
    model = get_peft_model(
        tiny_model(tokenizer),
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    return model


def trl_batch(groups: int, g: int, vocab: int, pad: int, seed: int = 0):
    """Rows as TRL builds them: ``groups`` distinct prompts of ragged length, left-padded,
    each repeated ``g`` times (rows of a group not adjacent, as after TRL's shuffle), and
    ragged completions right-padded; plus random supports that contain each token."""
    rng = torch.Generator().manual_seed(seed)
    prompt_lens = [5 + 3 * k for k in range(groups)]
    prompts = [torch.randint(0, vocab, (n,), generator=rng).tolist() for n in prompt_lens]
    rows = [(k, j) for j in range(g) for k in range(groups)]  # interleaved groups
    p_width = max(prompt_lens)
    c_lens = [1 + (3 * i + 2) % 7 for i in range(len(rows))]
    c_width = max(c_lens)
    ids, mask = [], []
    completions = []
    for (k, _), n in zip(rows, c_lens, strict=True):
        prompt = prompts[k]
        comp = torch.randint(0, vocab, (n,), generator=rng).tolist()
        completions.append(comp)
        ids.append([pad] * (p_width - len(prompt)) + prompt + comp + [pad] * (c_width - n))
        mask.append([0] * (p_width - len(prompt)) + [1] * (len(prompt) + n) + [0] * (c_width - n))
    ids, mask = torch.tensor(ids), torch.tensor(mask)
    allowed = torch.rand(len(rows), c_width, vocab, generator=rng) < 0.3
    comp_ids = ids[:, -c_width:]
    allowed.scatter_(-1, comp_ids.unsqueeze(-1), True)
    return ids, mask, c_width, pack(allowed)


def logps_and_grads(model, ids, mask, width, support, shared, chunk_tokens=2048):
    from trainers.masked_logprobs import token_logprobs
    from trainers.shared_prompt import completion_hidden, decoder_and_head

    model.zero_grad()
    _, head = decoder_and_head(model)
    hidden = completion_hidden(model, ids, mask, width, shared=shared)
    valid = mask[:, -width:].bool()
    out = token_logprobs(
        hidden,
        head,
        ids[:, -width:],
        valid,
        support=support,
        temperature=0.7,
        chunk_tokens=chunk_tokens,
        entropy=True,
    )
    # an advantage-weighted loss, as GRPO's
    weights = torch.linspace(-1.0, 1.0, ids.size(0)).unsqueeze(1)
    (out["logps"] * weights).sum().backward()
    grads = torch.cat(
        [p.grad.flatten() for n, p in model.named_parameters() if p.requires_grad and "lora" in n]
    )
    return out, grads


@pytest.mark.parametrize("g", [1, 4])
@pytest.mark.parametrize("masked", [True, False])
def test_shared_prompt_equals_plain_forward(lora_lm, tokenizer, g, masked):
    vocab = lora_lm.config.vocab_size
    ids, mask, width, support = trl_batch(3, g, vocab, tokenizer.pad_token_id)
    support = support if masked else None
    plain, g_plain = logps_and_grads(lora_lm, ids, mask, width, support, shared=False)
    shared, g_shared = logps_and_grads(lora_lm, ids, mask, width, support, shared=True)
    assert torch.allclose(shared["logps"], plain["logps"], atol=1e-5, rtol=0)
    assert torch.allclose(shared["entropy"], plain["entropy"], atol=1e-4, rtol=0)
    assert g_plain.norm() > 0
    cosine = torch.nn.functional.cosine_similarity(g_shared, g_plain, dim=0)
    assert cosine > 0.9999


def test_shared_prompt_under_activation_checkpointing(lora_lm, tokenizer):
    """Checkpointing re-runs every layer in the backward pass; the idempotent prefix
    cache keeps the shared path exact (against the plain path without checkpointing),
    and reentrant checkpointing, which would cut the prompt's gradient, is refused."""
    vocab = lora_lm.config.vocab_size
    ids, mask, width, support = trl_batch(2, 4, vocab, tokenizer.pad_token_id, seed=2)
    reference, g_ref = logps_and_grads(lora_lm, ids, mask, width, support, shared=False)
    lora_lm.train()
    lora_lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    lora_lm.enable_input_require_grads()
    try:
        for shared in (True, False):
            out, grads = logps_and_grads(lora_lm, ids, mask, width, support, shared=shared)
            assert torch.allclose(out["logps"], reference["logps"], atol=1e-5, rtol=0)
            assert torch.nn.functional.cosine_similarity(grads, g_ref, dim=0) > 0.9999
        lora_lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": True})
        with pytest.raises(ValueError, match="non-reentrant"):
            logps_and_grads(lora_lm, ids, mask, width, support, shared=True)
    finally:
        lora_lm.gradient_checkpointing_disable()
        lora_lm.eval()


def test_plain_forward_matches_a_row_by_row_forward(lora_lm, tokenizer):
    """The plain path itself is right: each row alone, unpadded, gives the same log-probs
    (positions count real tokens only, as in generation)."""
    from trainers.masked_logprobs import token_logprobs
    from trainers.shared_prompt import completion_hidden, decoder_and_head

    vocab = lora_lm.config.vocab_size
    ids, mask, width, _ = trl_batch(2, 2, vocab, tokenizer.pad_token_id, seed=3)
    _, head = decoder_and_head(lora_lm)
    with torch.no_grad():
        batch = token_logprobs(
            completion_hidden(lora_lm, ids, mask, width, shared=False),
            head,
            ids[:, -width:],
            mask[:, -width:].bool(),
        )["logps"]
        for b in range(ids.size(0)):
            real = ids[b][mask[b].bool()]
            n = int(mask[b, -width:].sum())
            logits = lora_lm(real.unsqueeze(0)).logits[0, -n - 1 : -1].float()
            alone = logits.log_softmax(-1).gather(-1, real[-n:, None])[:, 0]
            assert torch.allclose(batch[b, :n], alone, atol=1e-5, rtol=0)


def test_chunking_changes_nothing(lora_lm, tokenizer):
    vocab = lora_lm.config.vocab_size
    ids, mask, width, support = trl_batch(2, 4, vocab, tokenizer.pad_token_id, seed=1)
    whole, g_whole = logps_and_grads(lora_lm, ids, mask, width, support, True, chunk_tokens=10**6)
    small, g_small = logps_and_grads(lora_lm, ids, mask, width, support, True, chunk_tokens=8)
    assert torch.allclose(small["logps"], whole["logps"], atol=1e-6, rtol=0)
    assert torch.allclose(small["gap"], whole["gap"], atol=1e-5, rtol=0)
    assert torch.nn.functional.cosine_similarity(g_small, g_whole, dim=0) > 0.99999


def test_support_logprobs_are_the_masked_log_softmax():
    """Against the plain formula: log-softmax of logits / T over the support; the gap is
    the mass outside it; a token outside its support is counted, not -inf."""
    from trainers.masked_logprobs import masked_token_logprobs, token_logprobs

    torch.manual_seed(0)
    vocab, hidden_size = 70, 6
    head = torch.nn.Linear(hidden_size, vocab, bias=False)
    hidden = torch.randn(2, 3, hidden_size)
    ids = torch.tensor([[1, 2, 3], [4, 5, 0]])
    valid = torch.tensor([[True, True, True], [True, True, False]])
    allowed = torch.rand(2, 3, vocab) < 0.5
    allowed.scatter_(-1, ids.unsqueeze(-1), True)
    out = token_logprobs(hidden, head, ids, valid, support=pack(allowed), temperature=0.5)
    logits = head(hidden) / 0.5
    expected = masked_token_logprobs(logits, ids, allowed | ~valid.unsqueeze(-1))
    assert torch.allclose(out["logps"], expected.masked_fill(~valid, 0.0), atol=1e-6)
    full = logits.log_softmax(-1).gather(-1, ids.unsqueeze(-1))[..., 0]
    assert torch.allclose(out["gap"], ((expected - full) * valid).sum(-1), atol=1e-5)
    assert int(out["refused"]) == 0
    allowed[0, 0, 1] = False
    refused = token_logprobs(hidden, head, ids, valid, support=pack(allowed))
    assert int(refused["refused"]) == 1 and torch.isfinite(refused["logps"]).all()


def test_bitmask_round_trip():
    torch.manual_seed(0)
    for vocab in (1, 31, 32, 33, 49152, 49153):
        allowed = torch.rand(3, 2, vocab) < 0.5
        bits = pack(allowed)
        assert bits.dtype == torch.int32 and bits.shape == (3, 2, (vocab + 31) // 32)
        assert torch.equal(unpack(bits, vocab), allowed)
