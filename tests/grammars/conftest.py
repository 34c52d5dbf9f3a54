"""Grammar test helpers: a small custom domain, and Outlines compiling a Constraint the way
a backend does (choice lists become a regex alternation)."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from grammars.base import Constraint


@pytest.fixture(scope="session")
def tiny_domain() -> str:
    """A two-code domain registered as ``grammar_test``; returns its name."""
    from actions.domains import DOMAINS, get_domain
    from actions.terms import Drop, Keep

    base = get_domain("streaming")
    domain = dataclasses.replace(
        base, name="grammar_test", codes={"k": (Keep(),), "x": (Drop(),)}, default_code="k"
    )
    DOMAINS.add("grammar_test", domain, replace=True)
    return "grammar_test"


@pytest.fixture(scope="session")
def outlines_model(tiny_lm, tokenizer):
    import outlines

    return outlines.from_transformers(tiny_lm, tokenizer)


def compile_constraint(constraint: Constraint, model, engine: str | None = None):
    """The Outlines logits processor for ``constraint`` (what the transformers backend does)."""
    from outlines import backends

    engine = engine or constraint.engine
    if constraint.kind == "json_schema":
        return backends.get_json_schema_logits_processor(engine, model, constraint.spec)
    if constraint.kind == "choice":
        labels = json.loads(constraint.spec)
        regex = "(" + "|".join(re.escape(label) for label in labels) + ")"
        return backends.get_regex_logits_processor(engine, model, regex)
    if constraint.kind == "regex":
        return backends.get_regex_logits_processor(engine, model, constraint.spec)
    return backends.get_cfg_logits_processor(engine, model, constraint.spec)


def sample(lm, tokenizer, processor, max_new_tokens: int, n: int, seed: int = 0):
    """``n`` samples at temperature 1 under ``processor``: (text, closed) per sample, where
    closed means the end-of-sequence token came inside the budget."""
    import torch
    from transformers import LogitsProcessorList

    ids = tokenizer("Answer:", return_tensors="pt").input_ids
    processor.reset()
    torch.manual_seed(seed)
    out = lm.generate(
        ids,
        logits_processor=LogitsProcessorList([processor]),
        do_sample=True,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        max_new_tokens=max_new_tokens,
        num_return_sequences=n,
        pad_token_id=tokenizer.eos_token_id,
    )
    results = []
    for row in out[:, ids.shape[1] :].tolist():
        closed = tokenizer.eos_token_id in row
        if closed:
            row = row[: row.index(tokenizer.eos_token_id)]
        results.append((tokenizer.decode(row, skip_special_tokens=True), closed))
    return results
