"""The embedded SmolLM2-135M under the built-in grammars: at least 200 samples at
temperature 1 (n = 4) must all close inside their budgets, parse and validate.

The mix: action plans of 3..12 entries, rewrites with this history's titles as an
enumeration and with free-text titles (the longest outputs), and choices among 10
labels, whose budget (label + end token) every sample uses to the last token.
"""

from __future__ import annotations

import random
import time

import pytest

from grammars import GrammarContext, get_grammar
from toolkit.backends.base import SamplingParams

pytestmark = [pytest.mark.embedded, pytest.mark.slow]

TITLES = [
    "Heat (1995)",
    "Kolya (1996)",
    "Amélie (2001)",
    "The Matrix (1999)",
    "Toy Story (1995)",
    "Fargo (1996)",
    'Say "Anything" (1989)',
    "Star Wars (1977)",
    "Jaws (1975)",
    "Babe (1995)",
    "Alien (1979)",
    "Casablanca (1942)",
    "Scream (1996)",
    "Twister (1996)",
]
ASPECTS = ["Drama", "Sci-Fi", "Comedy", "Thriller", "Animation", "Romance"]


def cases(rng: random.Random) -> list[tuple[str, GrammarContext, str]]:
    """(grammar, context, prompt) for 50 prompts: 200 samples at n = 4."""
    out = []
    for _ in range(20):
        titles = rng.sample(TITLES, rng.randint(3, 12))
        prompt = "For each interaction answer keep, drop or enrich, as a JSON list.\n" + "\n".join(
            f"{i + 1}. watched {t}" for i, t in enumerate(titles)
        )
        out.append(("action_plan", GrammarContext(n_interactions=len(titles)), prompt))
    for free in [False] * 10 + [True] * 4:
        titles = rng.sample(TITLES, 6)
        extra = {} if free else {"titles": titles, "aspects": rng.sample(ASPECTS, 3)}
        prompt = "Summarise this viewing history as JSON: " + "; ".join(titles)
        out.append(("rewrite", GrammarContext(extra=extra), prompt))
    for _ in range(16):
        options = rng.sample(TITLES, 10)
        listed = "\n".join(f"{chr(65 + i)}. {t}" for i, t in enumerate(options))
        prompt = f"The user liked {rng.choice(TITLES)}. Which one next?\n{listed}\nAnswer:"
        out.append(("choice", GrammarContext(n_candidates=10), prompt))
    return out


def test_two_hundred_constrained_samples_all_validate():
    """Four prompts (16 rows, each prompt its own constraint) per ``generate`` call."""
    import torch

    from toolkit.backends.transformers_backend import TransformersGenerator

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gen = TransformersGenerator.from_pretrained("embedded", batch_size=16)
        todo = cases(random.Random(0))
        start = time.perf_counter()
        rows = []
        for i in range(0, len(todo), 4):
            chunk = todo[i : i + 4]
            constraints = [get_grammar(name).constraint(ctx) for name, ctx, _ in chunk]
            params = SamplingParams(temperature=1.0, seed=i)
            out = gen.generate([p for *_, p in chunk], constraints, n=4, params=params)
            for (name, ctx, _), constraint, samples in zip(chunk, constraints, out, strict=True):
                rows += [(name, ctx, constraint, c) for c in samples]
        wall = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)

    assert len(rows) >= 200
    bad = []
    for name, ctx, _, c in rows:
        issues = grammar_issues(name, ctx, c.text)
        if c.finish_reason != "stop" or issues:
            bad.append((name, c.finish_reason, issues, c.text[:200]))
    assert not bad, bad
    full = [c for _, _, constraint, c in rows if len(c.token_ids) == constraint.max_tokens]
    assert full, "no sample used its whole budget"
    longest = max(len(c.token_ids) for *_, c in rows)
    print(
        f"\n{len(rows)} samples in {wall:.0f}s, all valid; {len(full)} used their whole "
        f"budget; longest {longest} tokens"
    )


def grammar_issues(name: str, ctx: GrammarContext, text: str) -> list[str]:
    grammar = get_grammar(name)
    issues = [str(i) for i in grammar.validate(text, ctx)]
    if not issues:
        grammar.parse(text, ctx)
    return issues
