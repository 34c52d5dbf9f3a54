"""The transformers backend on a tiny random Llama with the real SmolLM2 vocabulary:
shapes, padding, seeds, finish reasons, grammar validity, and log-probs under the mask."""

from __future__ import annotations

import json
import re

import pytest

from grammars.base import Constraint, GrammarError
from toolkit.backends import BACKENDS, SamplingParams, get_backend
from toolkit.backends.base import as_row_constraints
from toolkit.backends.constraints import (
    GrammarMask,
    choice_labels,
    choice_regex,
    get_processor,
    is_cached,
)
from toolkit.backends.transformers_backend import TransformersGenerator
from toolkit.errors import ConfigError

torch = pytest.importorskip("torch")


def plan_schema(codes: list[str], n: int) -> str:
    return json.dumps({"type": "array", "items": {"enum": codes}, "minItems": n, "maxItems": n})


PLAN = Constraint("json_schema", plan_schema(["drop", "enrich", "keep"], 3), "llguidance", 40)
PLAN_CORE = Constraint(
    "json_schema", plan_schema(["drop", "enrich", "keep"], 3), "outlines_core", 40
)
PLAN_XGR = Constraint("json_schema", plan_schema(["drop", "enrich", "keep"], 3), "xgrammar", 40)
OTHER_ENUMS = Constraint("json_schema", plan_schema(["Heat", "Kolya"], 2), "llguidance", 40)
REGEX = Constraint("regex", r"[0-9]{2,4}-[a-z]{1,3}", "outlines_core", 12)
CHOICE = Constraint("choice", json.dumps(list("ABCDEFGHIJ")), "outlines_core", 2)
ALL = [PLAN, PLAN_CORE, PLAN_XGR, OTHER_ENUMS, REGEX, CHOICE]


def is_valid(constraint: Constraint, text: str) -> bool:
    if constraint.kind == "json_schema":
        import jsonschema

        try:
            jsonschema.validate(json.loads(text), json.loads(constraint.spec))
        except (ValueError, jsonschema.ValidationError):
            return False
        return True
    if constraint.kind == "regex":
        return re.fullmatch(constraint.spec, text) is not None
    return text in choice_labels(constraint)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Two shared cores: a second torch thread only waits on the other jobs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def gen(tiny_lm, tokenizer) -> TransformersGenerator:
    return TransformersGenerator(tiny_lm, tokenizer, batch_size=8)


def forward_logits(model, completion) -> torch.Tensor:
    """``[T, V]`` float32 logits that predicted each completion token (no padding)."""
    ids = torch.tensor([completion.prompt_ids + completion.token_ids])
    with torch.no_grad():
        logits = model(ids).logits[0].float()
    start = len(completion.prompt_ids) - 1
    return logits[start : start + len(completion.token_ids)]


def replay(constraint: Constraint, tokenizer, token_ids: list[int], vocab: int) -> torch.Tensor:
    """``[T, V]`` allowed sets, from a fresh processor fed the completion step by step."""
    processor = get_processor(constraint, tokenizer)
    previous, rows = torch.tensor([[0]]), []
    for token in token_ids:
        rows.append(processor(previous, torch.zeros(1, vocab))[0] > float("-inf"))
        previous = torch.tensor([[token]])
    return torch.stack(rows)


def test_registry_finds_the_transformers_backend():
    assert get_backend("transformers") is TransformersGenerator
    assert "transformers" in BACKENDS.names()
    assert get_backend("toolkit.backends.transformers_backend:TransformersGenerator") is (
        TransformersGenerator
    )


def test_shapes_with_several_samples(gen, tokenizer):
    prompts = ["Say something.", "Pick a letter.", "Write a code like 12-ab."]
    out = gen.generate(prompts, [PLAN, CHOICE, REGEX], n=3, params=SamplingParams(seed=0))
    assert [len(samples) for samples in out] == [3, 3, 3]
    for prompt, samples in zip(prompts, out, strict=True):
        for c in samples:
            assert c.prompt_ids == gen.encode(prompt)
            assert len(c.token_ids) == len(c.logprobs) == len(c.unmasked_logprobs) > 0
            assert c.finish_reason == "stop" and c.token_ids[-1] == tokenizer.eos_token_id
            assert c.text == tokenizer.decode(c.token_ids[:-1], skip_special_tokens=True)
            assert c.sum_logprob == pytest.approx(sum(c.logprobs))


def test_chat_template_wraps_the_prompt(gen, tiny_lm, tokenizer):
    text = tokenizer.decode(gen.encode("hello there"))
    assert "<|im_start|>user\nhello there<|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")
    plain = TransformersGenerator(tiny_lm, tokenizer, chat=False)
    assert tokenizer.decode(plain.encode("hello there")) == "hello there"


def test_left_padding_changes_nothing(gen):
    """A prompt alone and inside a batch of longer and shorter prompts: same greedy tokens."""
    greedy = SamplingParams(temperature=0, max_new_tokens=12)
    prompts = ["A much longer prompt that forces left padding on the others.", "Hi", "Mid one"]
    constraints = [None, PLAN, None]
    batch = gen.generate(prompts, constraints, params=greedy)
    for prompt, constraint, together in zip(prompts, constraints, batch, strict=True):
        alone = gen.generate([prompt], constraint, params=greedy)[0][0]
        assert alone.token_ids == together[0].token_ids
        assert alone.logprobs == pytest.approx(together[0].logprobs, abs=1e-4)


def test_reported_logprob_is_the_log_softmax_over_the_allowed_set(gen, tiny_lm, tokenizer):
    """The acceptance check: per token, masked log-prob == log-softmax over the tokens the
    grammar allowed (1e-5), the normaliser it implies sums the allowed mass to 1, and the
    unmasked log-prob is the full log-softmax."""
    prompts = ["plan", "code", "letter", "free text"]
    constraints = [PLAN, REGEX, CHOICE, None]
    out = gen.generate(prompts, constraints, n=2, params=SamplingParams(seed=1, max_new_tokens=20))
    vocab = tiny_lm.config.vocab_size
    for constraint, samples in zip(constraints, out, strict=True):
        for c in samples:
            logits = forward_logits(tiny_lm, c)
            ids = torch.tensor(c.token_ids)
            if constraint is None:
                allowed = torch.ones_like(logits, dtype=torch.bool)
            else:
                allowed = replay(constraint, tokenizer, c.token_ids, vocab)
            masked = logits.masked_fill(~allowed, float("-inf")).log_softmax(-1)
            expected = masked.gather(-1, ids[:, None])[:, 0]
            reported = torch.tensor(c.logprobs)
            assert torch.allclose(reported, expected, atol=1e-5, rtol=0)
            # the normaliser implied by the report covers exactly the allowed set
            lse = logits.gather(-1, ids[:, None])[:, 0] - reported
            mass = (logits - lse[:, None]).exp().masked_fill(~allowed, 0).sum(-1)
            assert torch.allclose(mass, torch.ones_like(mass), atol=1e-5)
            full = logits.log_softmax(-1).gather(-1, ids[:, None])[:, 0]
            assert torch.allclose(torch.tensor(c.unmasked_logprobs), full, atol=1e-5, rtol=0)


def test_masked_and_unmasked_relation(gen):
    params = SamplingParams(seed=2, max_new_tokens=20)
    out = gen.generate(["a", "b"], [PLAN, None], n=2, params=params)
    for c in out[0]:  # constrained: the grammar removes mass, so masked > unmasked
        assert all(m >= u for m, u in zip(c.logprobs, c.unmasked_logprobs, strict=True))
        assert c.sum_logprob - sum(c.unmasked_logprobs) > 1.0
        assert all(m <= 1e-6 for m in c.logprobs)
    for c in out[1]:  # unconstrained: identical
        assert c.logprobs == c.unmasked_logprobs


def test_report_is_the_distribution_sampled_from(gen, tiny_lm, tokenizer):
    """At temperature 0.7 with top-k and top-p, the reported log-prob is that of the
    distribution the token was drawn from: grammar mask, then logits / 0.7, then top-k,
    then top-p; the reported support is exactly that distribution's support."""
    from toolkit.backends.bitmask import unpack
    from toolkit.backends.transformers_backend import truncate

    params = SamplingParams(seed=3, temperature=0.7, top_k=20, top_p=0.9)
    for c in gen.generate(["plan", "free"], [PLAN, None], n=2, params=params)[0]:
        logits = forward_logits(tiny_lm, c)
        vocab = tiny_lm.config.vocab_size
        allowed = replay(PLAN, tokenizer, c.token_ids, vocab)
        scaled = logits.masked_fill(~allowed, float("-inf")) / 0.7
        final = truncate(scaled, 20, 0.9)
        ids = torch.tensor(c.token_ids)
        expected = final.log_softmax(-1).gather(-1, ids[:, None])[:, 0]
        assert torch.allclose(torch.tensor(c.logprobs), expected, atol=1e-5, rtol=0)
        assert torch.equal(unpack(c.support, vocab), torch.isfinite(final))
        full = (logits / 0.7).log_softmax(-1).gather(-1, ids[:, None])[:, 0]
        assert torch.allclose(torch.tensor(c.unmasked_logprobs), full, atol=1e-5, rtol=0)


def test_support_bits_equal_the_grammar_replay(gen, tiny_lm, tokenizer):
    """At temperature 1 without truncation the sampler's bitmasks are the grammar's
    allowed sets (what the trainer used to replay), for every engine."""
    from toolkit.backends.bitmask import unpack

    vocab = tiny_lm.config.vocab_size
    constraints = [PLAN, PLAN_CORE, PLAN_XGR, CHOICE]
    out = gen.generate(["x"] * 4, constraints, n=2, params=SamplingParams(seed=5))
    for constraint, samples in zip(constraints, out, strict=True):
        for c in samples:
            assert c.support.shape == (len(c.token_ids), (vocab + 31) // 32)
            replayed = replay(constraint, tokenizer, c.token_ids, vocab)
            assert torch.equal(unpack(c.support, vocab), replayed)


@pytest.mark.parametrize("params", [SamplingParams(temperature=0), SamplingParams(seed=11)])
def test_shared_prefill_matches_separate_prefills(tiny_lm, tokenizer, params):
    """Prefilling each prompt once and sharing its cache among n samples gives the same
    tokens and log-probs as encoding every sample's prompt (ragged prompts, n=3)."""
    prompts = ["A much longer prompt that forces left padding here.", "Hi"]
    shared = TransformersGenerator(tiny_lm, tokenizer, batch_size=8)
    plain = TransformersGenerator(tiny_lm, tokenizer, batch_size=8, shared_prefill=False)
    a = shared.generate(prompts, [PLAN, None], n=3, params=params)
    b = plain.generate(prompts, [PLAN, None], n=3, params=params)
    for xs, ys in zip(a, b, strict=True):
        for x, y in zip(xs, ys, strict=True):
            assert x.token_ids == y.token_ids
            assert x.logprobs == pytest.approx(y.logprobs, abs=1e-4)


def test_every_sampled_token_is_allowed(gen, tiny_lm, tokenizer):
    out = gen.generate(["x"] * 3, [PLAN_CORE, PLAN_XGR, OTHER_ENUMS], n=2, params=SamplingParams())
    for constraint, samples in zip([PLAN_CORE, PLAN_XGR, OTHER_ENUMS], out, strict=True):
        for c in samples:
            allowed = replay(constraint, tokenizer, c.token_ids, tiny_lm.config.vocab_size)
            ids = torch.tensor(c.token_ids)
            assert bool(allowed.gather(-1, ids[:, None]).all())
            assert all(lp > float("-inf") for lp in c.logprobs)


def test_finish_reasons_and_budgets(gen, tokenizer):
    cut = gen.generate(["plan"], PLAN, params=SamplingParams(max_new_tokens=2, seed=0))[0][0]
    assert cut.finish_reason == "length" and len(cut.token_ids) == 2
    assert not is_valid(PLAN, cut.text)
    free = gen.generate(["go"], None, params=SamplingParams(max_new_tokens=5, seed=0))[0][0]
    assert len(free.token_ids) <= 5
    assert (free.finish_reason == "stop") == (tokenizer.eos_token_id in free.token_ids)
    # the grammar's own budget caps the request's; mixed budgets in one batch
    tight = Constraint("json_schema", PLAN.spec, "llguidance", max_tokens=3)
    out = gen.generate(["a", "b"], [tight, CHOICE], params=SamplingParams(max_new_tokens=50))
    assert out[0][0].finish_reason == "length" and len(out[0][0].token_ids) == 3
    assert out[1][0].finish_reason == "stop" and len(out[1][0].token_ids) == 2
    # no request budget: the grammar's budget
    default = gen.generate(["a"], tight, params=SamplingParams(seed=0))[0][0]
    assert default.finish_reason == "length" and len(default.token_ids) == 3


@pytest.mark.parametrize(
    "constraint",
    [PLAN, PLAN_CORE, PLAN_XGR, REGEX, CHOICE],
    ids=["plan-llguidance", "plan-outlines_core", "plan-xgrammar", "regex", "choice"],
)
def test_many_seeds_all_valid(gen, constraint):
    for seed in range(5):
        out = gen.generate(["Answer:"], constraint, n=4, params=SamplingParams(seed=seed))
        for c in out[0]:
            assert c.finish_reason == "stop", c.text
            assert is_valid(constraint, c.text), c.text
            if constraint.kind == "json_schema":  # compact whitespace on every engine
                assert not re.search(r"\s", c.text), c.text


def test_mixed_constraints_in_one_batch(gen):
    """Per-row processors: each row obeys its own grammar, and sharing a batch changes
    nothing (greedy) — rows of one constraint share a processor, in or out of order."""
    greedy = SamplingParams(temperature=0, max_new_tokens=30)
    prompts = ["p0", "p1", "p2", "p3", "p4"]
    constraints = [PLAN, OTHER_ENUMS, None, PLAN, CHOICE]
    mixed = gen.generate(prompts, constraints, n=2, params=greedy)
    for prompt, constraint, samples in zip(prompts, constraints, mixed, strict=True):
        alone = gen.generate([prompt], constraint, n=2, params=greedy)[0]
        assert [c.token_ids for c in samples] == [c.token_ids for c in alone]
        if constraint is not None:
            assert all(is_valid(constraint, c.text) for c in samples)


def test_seeds_reproduce_and_leave_the_global_rng_alone(gen):
    params = SamplingParams(seed=11, max_new_tokens=8)
    state = torch.random.get_rng_state()
    first = gen.generate(["seed test"], None, n=3, params=params)[0]
    assert torch.equal(torch.random.get_rng_state(), state)
    again = gen.generate(["seed test"], None, n=3, params=params)[0]
    other = gen.generate(["seed test"], None, n=3, params=SamplingParams(seed=12, max_new_tokens=8))
    assert [c.token_ids for c in first] == [c.token_ids for c in again]
    assert [c.token_ids for c in first] != [c.token_ids for c in other[0]]
    assert len({tuple(c.token_ids) for c in first}) > 1  # n samples differ from each other


def test_processors_are_fresh_per_call_and_compiled_once(gen, tokenizer):
    """Without fresh state Outlines decoded '' (outlines_core) or raised (xgrammar)."""
    greedy = SamplingParams(temperature=0)
    for constraint in (PLAN_CORE, PLAN_XGR, PLAN):
        first = gen.generate(["again"], constraint, params=greedy)[0][0]
        second = gen.generate(["again"], constraint, params=greedy)[0][0]
        assert first.text and first.token_ids == second.token_ids
        assert is_cached(constraint, tokenizer)
    a, b = get_processor(PLAN_CORE, tokenizer), get_processor(PLAN_CORE, tokenizer)
    assert a is not b and a.index is b.index


def test_grammar_mask_blocks_logits_past_the_tokenizer(tokenizer):
    """A model may have more logits than the tokenizer has tokens (xgrammar refuses
    such logits outright): constrained rows never allow the extra columns."""
    width = len(tokenizer)
    choice_xgr = Constraint("choice", CHOICE.spec, "xgrammar", 2)
    mask = GrammarMask([None, CHOICE, choice_xgr], tokenizer)
    out = mask(torch.ones(3, 1, dtype=torch.long), torch.zeros(3, width + 64))
    assert torch.isfinite(out[0]).all()  # the unconstrained row is untouched
    labels = sorted(tokenizer.convert_tokens_to_ids(x) for x in choice_labels(CHOICE))
    for row in (1, 2):
        assert torch.isfinite(out[row]).nonzero()[:, 0].tolist() == labels


def test_choice_specs():
    assert choice_regex(["A", "AB", "a.b"]) == r"(a\.b|AB|A)"
    with pytest.raises(GrammarError):
        choice_labels(Constraint("choice", "not json"))
    with pytest.raises(GrammarError):
        choice_labels(Constraint("choice", "[]"))


def test_bad_arguments(gen, tiny_lm, tokenizer):
    with pytest.raises(ValueError, match="constraints for 2 prompts"):
        gen.generate(["a", "b"], [PLAN])
    with pytest.raises(ValueError, match="n must be"):
        gen.generate(["a"], n=0)
    assert as_row_constraints(PLAN, 2) == [PLAN, PLAN]
    import copy

    bare = copy.copy(tokenizer)
    bare.chat_template = None
    with pytest.raises(ConfigError, match="chat=False"):
        TransformersGenerator(tiny_lm, bare)


BUILTIN_TITLES = ["Heat", "Kolya", "Amélie", 'Say "Anything" (1989)']


@pytest.mark.parametrize("name", ["action_plan", "numbered_plan", "rewrite", "choice"])
def test_builtin_grammars_decode_and_validate(gen, name):
    grammars = pytest.importorskip("grammars")
    ctx = grammars.GrammarContext(
        n_interactions=5, extra={"titles": BUILTIN_TITLES, "aspects": ["Drama", "Sci-Fi"]}
    )
    grammar = grammars.get_grammar(name)
    constraint = grammar.constraint(ctx)
    out = gen.generate(["Answer:"], constraint, n=3, params=SamplingParams(seed=4))
    for c in out[0]:
        assert c.finish_reason == "stop", c.text
        assert grammar.validate(c.text, ctx) == [], c.text


def test_rewrite_samples_never_repeat_a_title(gen):
    """Under the schema alone the random tiny model folds two titles into repeats; under
    the rewrite's grammar each title is written at most once, in the listed order."""
    import dataclasses

    grammars = pytest.importorskip("grammars")
    titles = ["Heat", "Kolya"]
    ctx = grammars.GrammarContext(extra={"titles": titles, "aspects": ["Drama"]})
    constraint = grammars.get_grammar("rewrite").constraint(ctx)
    schema_only = dataclasses.replace(constraint, kind="json_schema", spec=constraint.fallback)

    def item_titles(c):
        return [i["title"] for i in json.loads(c.text)["aggregated_items"]]

    params = SamplingParams(seed=1, temperature=1.5)
    loose = [item_titles(c) for c in gen.generate(["Answer:"], schema_only, n=12, params=params)[0]]
    assert any(len(set(t)) < len(t) for t in loose)  # the failure the grammar prevents
    for c in gen.generate(["Answer:"], constraint, n=12, params=params)[0]:
        got = item_titles(c)
        assert got == [t for t in titles if t in got], c.text  # distinct, in order
