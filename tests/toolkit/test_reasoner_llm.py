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


def _biased_answers(n_questions=400, bias=3.0, signal=1.5, seed=0):
    """Answers of a reader that prefers shown slot A by ``bias`` nats and the target
    (candidate 0) by ``signal`` nats, under random candidate orders."""
    import random

    from toolkit.reasoners.base import Answer

    rng = random.Random(seed)
    answers = []
    for _ in range(n_questions):
        order = list(range(10))
        rng.shuffle(order)
        logits = torch.tensor(
            [
                bias * (slot == 0) + signal * (c == 0) + rng.gauss(0, 1)
                for slot, c in enumerate(order)
            ]
        )
        shown = torch.log_softmax(logits, -1).tolist()
        scores = [0.0] * 10
        for slot, c in enumerate(order):
            scores[c] = shown[slot]
        pick = max(range(10), key=scores.__getitem__)
        meta = {
            "order": order,
            "shifts": 1,
            "shift_scores": [scores],
            "shown_position": order.index(pick),
        }
        answers.append(Answer(pick=pick, scores=scores, meta=meta))
    return answers


def test_batch_calibration_removes_a_slot_preference_and_keeps_the_content():
    from toolkit.pipeline import first_position_share
    from toolkit.reasoners.positions import batch_calibrate

    answers = _biased_answers()
    calibrated = batch_calibrate(answers)
    before, after = first_position_share(answers), first_position_share(calibrated)
    assert before > 0.6 and after < 0.2, (before, after)
    hits = lambda xs: sum(a.pick == 0 for a in xs) / len(xs)  # noqa: E731
    assert hits(calibrated) > hits(answers)
    a = calibrated[0]
    assert a.meta["uncalibrated_scores"] == answers[0].scores and a.meta["calibration"] == "batch"
    assert a.raw == "ABCDEFGHIJ"[a.meta["shown_position"]]
    # an unbiased reader is left (almost) as it was
    fair = _biased_answers(bias=0.0)
    same = sum(x.pick == y.pick for x, y in zip(fair, batch_calibrate(fair), strict=True))
    assert same / len(fair) > 0.9


def test_the_pipeline_calibrates_a_whole_row(tokenizer, catalog):
    """Through ``evaluate_row``: a reader that only prefers slot A stops picking slot A
    once calibrated, and the row's position statistics are those of the calibrated picks."""
    from tests.toolkit.reader_examples import one_watch_examples
    from toolkit.episodes import build_episodes
    from toolkit.pipeline import evaluate_row

    class SlotA(torch.nn.Module):
        device = torch.device("cpu")

        def forward(self, input_ids, logits_to_keep=1, **kw):
            logits = torch.zeros(input_ids.shape[0], 1, len(tokenizer))
            logits[:, :, tokenizer.encode("A", add_special_tokens=False)[0]] = 5.0
            return type("O", (), {"logits": logits})()

    examples = one_watch_examples(40)
    episodes = build_episodes(examples, window=10, seed=0)
    rows = [{"text": "Movie 1", "valid": True} for _ in examples]
    plain = evaluate_row("plain", episodes, rows, LLMReasoner(catalog, SlotA(), tokenizer))
    assert plain.extras["first_position_share"] == 1.0
    reader = LLMReasoner(catalog, SlotA(), tokenizer, calibrate="batch")
    res = evaluate_row("calibrated", episodes, rows, reader)
    assert res.extras["first_position_share"] < 0.3
    assert res.extras["calibration"] == "batch"
    assert res.extras["single_order_first_position_share"] == 1.0  # the raw order, kept
    assert res.extras["positions"]["n"] == 40
    with pytest.raises(ValueError, match="calibrate must be one of"):
        LLMReasoner(catalog, SlotA(), tokenizer, calibrate="platt")
