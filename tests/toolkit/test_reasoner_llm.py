"""The LLM reasoner: position-fair cyclic shifts, the shared-prefix forward, fixed orders."""

from __future__ import annotations

import pytest
import torch

from toolkit.reasoners.base import ReasonerInput
from toolkit.reasoners.llm import LLMReasoner, cyclic_shifts
from toolkit.records import Catalog, Item


@pytest.fixture(scope="module")
def catalog():
    return Catalog(
        [
            Item(item_id=str(i), title=f"Movie {i}", year=1990 + i, genres=("Drama",))
            for i in range(10)
        ]
    )


def test_cyclic_shifts_put_every_candidate_in_every_slot():
    order = [3, 1, 4, 0, 2]
    shifts = cyclic_shifts(order, 5)
    assert shifts[0] == tuple(order)
    for slot in range(5):
        assert sorted(s[slot] for s in shifts) == [0, 1, 2, 3, 4]
    assert cyclic_shifts(order, 1) == [tuple(order)]
    assert len(cyclic_shifts(order, 99)) == 5


def test_shared_prefix_forward_matches_separate_forwards(tiny_lm, tokenizer, catalog):
    torch.manual_seed(0)
    r = LLMReasoner(catalog, tiny_lm, tokenizer, batch_size=3)
    inp = ReasonerInput("watched Movie 1, Movie 2", tuple(str(i) for i in range(10)))
    texts = [
        r.chat(ReasonerInput(inp.context, tuple(inp.candidates[i] for i in o)))
        for o in cyclic_shifts(list(range(10)), 10)
    ]
    shared = r.shared_prefix_logprobs(texts, 10)
    separate = [r.label_logprobs([t], [10])[0] for t in texts]
    assert torch.allclose(torch.tensor(shared), torch.tensor(separate), atol=1e-4)


def test_order_comes_from_the_input_not_the_context(tiny_lm, tokenizer, catalog):
    r = LLMReasoner(catalog, tiny_lm, tokenizer, shifts=1)
    cands = tuple(str(i) for i in range(10))
    a, b = r.answer_batch([ReasonerInput("ctx one", cands), ReasonerInput("other text", cands)])
    assert a.meta["order"] == b.meta["order"]  # keyed on the candidates, never the context
    fixed = (9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
    (c,) = r.answer_batch([ReasonerInput("ctx", cands, fixed)])
    assert tuple(c.meta["order"]) == fixed


def test_full_shifts_average_away_a_pure_slot_preference(tokenizer, catalog):
    """A model that only ever prefers label A picks by content once every slot is averaged."""

    class SlotA(torch.nn.Module):
        device = torch.device("cpu")

        def forward(self, input_ids, logits_to_keep=1, **kw):
            logits = torch.zeros(input_ids.shape[0], 1, len(tokenizer))
            logits[:, :, tokenizer.encode("A", add_special_tokens=False)[0]] = 5.0
            return type("O", (), {"logits": logits, "cache": _Cache()})()

    class _Cache:
        def batch_repeat_interleave(self, n):
            pass

    r = LLMReasoner(catalog, SlotA(), tokenizer, shifts=1)
    cands = tuple(str(i) for i in range(10))
    answers = r.answer_batch([ReasonerInput("x", cands, tuple(range(10)))])
    assert answers[0].meta["shown_position"] == 0
    r10 = LLMReasoner(catalog, SlotA(), tokenizer, shifts=10)
    (a,) = r10.answer_batch([ReasonerInput("x", cands, tuple(range(10)))])
    assert max(a.scores) - min(a.scores) < 1e-6  # every candidate got slot A once
    assert a.meta["single_shown_position"] == 0 and a.meta["shifts"] == 10
