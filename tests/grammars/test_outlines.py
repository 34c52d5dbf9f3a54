"""Constraint and schema agree: compile each built-in constraint with Outlines against the
real vocabulary (a tiny random model), sample at temperature 1 and validate every output.

A random model spells strings in odd token splits, which is what tests the budget: every
sample must close (end-of-sequence inside ``max_tokens``) and validate.
"""

from __future__ import annotations

import time

import pytest

from grammars import GrammarContext, get_grammar
from tests.grammars.conftest import compile_constraint, sample

TITLES = ["Heat", "Kolya", "Amélie", 'Say "Anything" (1989)', "The Matrix (1999)"]
CASES = {
    "action_plan": GrammarContext(n_interactions=6),
    "rewrite": GrammarContext(extra={"titles": TITLES, "aspects": ["Drama", "Sci-Fi"]}),
    "choice": GrammarContext(n_candidates=10),
    "choice_index": GrammarContext(n_candidates=10),
}


@pytest.mark.parametrize("name", list(CASES))
def test_sampled_outputs_close_and_validate(name, outlines_model, tiny_lm, tokenizer):
    grammar, ctx = get_grammar(name), CASES[name]
    constraint = grammar.constraint(ctx)
    start = time.perf_counter()
    processor = compile_constraint(constraint, outlines_model)
    compile_s = time.perf_counter() - start
    outputs = sample(tiny_lm, tokenizer, processor, constraint.max_tokens, n=3)
    for text, closed in outputs:
        assert closed, f"{name}: did not close within {constraint.max_tokens} tokens: {text!r}"
        assert grammar.validate(text, ctx) == [], text
        grammar.parse(text, ctx)
        if name == "rewrite":  # compact, in the model's field order
            assert text.startswith('{"summary":"') and ", " not in text.split('"aggregated')[1]
    print(f"{name}: {constraint.engine} compile {compile_s:.2f}s")


def test_rewrite_fallback_schema(outlines_model, tiny_lm, tokenizer):
    grammar = get_grammar("rewrite")
    constraint = grammar.constraint(GrammarContext())
    processor = compile_constraint(constraint, outlines_model)
    for text, closed in sample(tiny_lm, tokenizer, processor, constraint.max_tokens, n=2, seed=1):
        assert closed and grammar.validate(text) == [], text


def test_lark_grammar_decodes_under_llguidance(tmp_path, outlines_model, tiny_lm, tokenizer):
    path = tmp_path / "rating.lark"
    path.write_text('start: "rating: " DIGIT "/5"\nDIGIT: /[1-5]/\n')
    grammar = get_grammar(str(path))
    processor = compile_constraint(grammar.constraint(GrammarContext()), outlines_model)
    for text, closed in sample(tiny_lm, tokenizer, processor, 16, n=2):
        assert closed and grammar.validate(text) == [], text


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,engine",
    [("action_plan", "outlines_core"), ("rewrite", "xgrammar"), ("choice", "llguidance")],
)
def test_other_engines_agree_with_the_schema(name, engine, outlines_model, tiny_lm, tokenizer):
    """Engines the grammar does not use, where its schema has no keyword they ignore:
    outputs still validate. xgrammar's free whitespace need not close (seen: 0 of 2
    rewrites inside the budget), which is why no JSON grammar uses it."""
    from grammars.engines import ENGINES, check_schema

    grammar, ctx = get_grammar(name), CASES[name]
    constraint = grammar.constraint(ctx)
    if constraint.kind == "json_schema":
        schema = grammar.schema(ctx)
        assert check_schema(schema, engine) == []
        from grammars.base import Constraint, canonical_json

        spec = canonical_json(ENGINES[engine].prepare(schema))
        constraint = Constraint("json_schema", spec, engine, constraint.max_tokens)
    processor = compile_constraint(constraint, outlines_model, engine)
    outputs = sample(tiny_lm, tokenizer, processor, constraint.max_tokens, n=2)
    for text, closed in outputs:
        assert closed or ENGINES[engine].whitespace is None, text  # free whitespace may run on
        if closed:
            assert grammar.validate(text, ctx) == [], text
    print(f"{name} on {engine}: {sum(c for _, c in outputs)}/2 closed")


def _real_prompt(tokenizer, text: str):
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
    )


def _real_samples(name, ctx, prompt, n, seed=0):
    import outlines
    import torch
    from transformers import LogitsProcessorList

    from toolkit.models import load_model

    model, tokenizer = load_model()
    grammar = get_grammar(name)
    constraint = grammar.constraint(ctx)
    processor = compile_constraint(constraint, outlines.from_transformers(model, tokenizer))
    ids = tokenizer(_real_prompt(tokenizer, prompt), return_tensors="pt").input_ids
    processor.reset()
    torch.manual_seed(seed)
    out = model.generate(
        ids,
        logits_processor=LogitsProcessorList([processor]),
        do_sample=True,
        temperature=1.0,
        max_new_tokens=constraint.max_tokens,
        num_return_sequences=n,
        pad_token_id=tokenizer.eos_token_id,
    )
    texts = []
    for row in out[:, ids.shape[1] :].tolist():
        assert tokenizer.eos_token_id in row, "did not close inside the budget"
        texts.append(tokenizer.decode(row[: row.index(tokenizer.eos_token_id)]))
    return grammar, texts


@pytest.mark.embedded
def test_real_model_action_plan_and_choice():
    ctx = GrammarContext(n_interactions=4)
    prompt = (
        "For each of these 4 viewing events answer one code (keep, drop, enrich, tags, "
        "series, liked) as a JSON list:\n1. Heat, play\n2. Heat, preview\n3. Lost S1E1\n"
        "4. Lost S1E2"
    )
    grammar, texts = _real_samples("action_plan", ctx, prompt, n=2)
    for text in texts:
        assert grammar.validate(text, ctx) == [] and len(grammar.parse(text, ctx)) == 4
    ctx = GrammarContext(n_candidates=3)
    grammar, texts = _real_samples("choice", ctx, "Pick one: A. Heat B. Kolya C. Lost", n=2)
    assert all(grammar.parse(text, ctx) in (0, 1, 2) for text in texts)


@pytest.mark.slow
def test_real_model_rewrite():
    ctx = GrammarContext(extra={"titles": ["Heat", "Kolya", "Lost"], "aspects": ["Crime"]})
    prompt = "Summarise this viewer as JSON: watched Heat twice, liked Kolya, dropped Lost."
    grammar, texts = _real_samples("rewrite", ctx, prompt, n=1)
    assert grammar.validate(texts[0], ctx) == []
    print(texts[0])
