"""The LLM reader's answer cache: a resumed or repeated row re-reads nothing, scores the
same, and never serves an answer from other weights, another prompt or another shift count."""

from __future__ import annotations

import pytest

from tests.toolkit.reader_examples import one_watch_examples
from toolkit.cache import ContentStore
from toolkit.episodes import build_episodes
from toolkit.pipeline import evaluate_row
from toolkit.reasoners.base import Answer
from toolkit.reasoners.llm import LLMReasoner
from toolkit.records import Catalog, Item


@pytest.fixture(scope="module")
def catalog():
    return Catalog(
        [
            Item(item_id=str(i), title=f"Movie {i}", year=1990 + i, genres=("Drama",))
            for i in range(10)
        ]
    )


@pytest.fixture(scope="module")
def episodes():
    return build_episodes(one_watch_examples(12, watched=lambda k: str(k % 7)), window=10, seed=0)


def _rows(episodes):
    return [{"text": f"watched Movie {k % 7}", "valid": True} for k in range(len(episodes))]


class Counting:
    """Counts the questions that reach the model."""

    def __init__(self, reader):
        self.asked = 0
        original = reader.answer_batch

        def answer_batch(inputs):
            self.asked += len(inputs)
            return original(inputs)

        reader.answer_batch = answer_batch


def _summary(res):
    return (
        res.metrics["recall@1"].value,
        res.extras["first_position_share"],
        res.extras["positions"],
        [o.hit for o in res.outcomes],
    )


def test_a_second_run_reads_every_answer_from_the_store(
    tiny_lm, tokenizer, catalog, episodes, tmp_path
):
    store = ContentStore(tmp_path / "cache")
    first = LLMReasoner(catalog, tiny_lm, tokenizer, shifts=2)
    count1 = Counting(first)
    a = evaluate_row("llm", episodes, _rows(episodes), first, store=store)
    assert count1.asked == len(episodes) and len(store) == len(episodes)

    again = LLMReasoner(catalog, tiny_lm, tokenizer, shifts=2)
    count2 = Counting(again)
    b = evaluate_row("llm", episodes, _rows(episodes), again, store=store)
    assert count2.asked == 0
    assert _summary(a) == _summary(b)  # cached answers score exactly like fresh ones
    assert b.extras["positions"]["n"] == len(episodes)  # stats rebuilt from cached picks

    plain = evaluate_row(
        "llm", episodes, _rows(episodes), LLMReasoner(catalog, tiny_lm, tokenizer, shifts=2)
    )
    assert _summary(plain) == _summary(a)  # the store changes no number


def test_a_half_finished_row_resumes_where_it_stopped(
    tiny_lm, tokenizer, catalog, episodes, tmp_path
):
    store = ContentStore(tmp_path / "cache")
    half = len(episodes) // 2
    evaluate_row(
        "llm",
        episodes[:half],
        _rows(episodes)[:half],
        LLMReasoner(catalog, tiny_lm, tokenizer),
        store=store,
    )
    reader = LLMReasoner(catalog, tiny_lm, tokenizer)
    count = Counting(reader)
    evaluate_row("llm", episodes, _rows(episodes), reader, store=store)
    assert count.asked == len(episodes) - half


def test_other_weights_shifts_or_text_are_asked_again(tokenizer, catalog, episodes, tmp_path):
    from toolkit.models import tiny_model

    store = ContentStore(tmp_path / "cache")
    rows = _rows(episodes)
    evaluate_row(
        "llm",
        episodes,
        rows,
        LLMReasoner(catalog, tiny_model(tokenizer, seed=1), tokenizer),
        store=store,
    )
    cases = [
        (tiny_model(tokenizer, seed=2), 1, rows),  # other weights
        (tiny_model(tokenizer, seed=1), 3, rows),  # other shift count
        (tiny_model(tokenizer, seed=1), 1, [{**r, "text": r["text"] + "!"} for r in rows]),
    ]
    for model, shifts, texts in cases:
        reader = LLMReasoner(catalog, model, tokenizer, shifts=shifts)
        count = Counting(reader)
        evaluate_row("llm", episodes, texts, reader, store=store)
        assert count.asked == len(episodes)


def test_calibration_runs_on_the_cached_raw_answers(
    tiny_lm, tokenizer, catalog, episodes, tmp_path
):
    store = ContentStore(tmp_path / "cache")
    rows = _rows(episodes)
    evaluate_row("raw", episodes, rows, LLMReasoner(catalog, tiny_lm, tokenizer), store=store)
    reader = LLMReasoner(catalog, tiny_lm, tokenizer, calibrate="batch")
    count = Counting(reader)
    cached = evaluate_row("cal", episodes, rows, reader, store=store)
    fresh = evaluate_row(
        "cal", episodes, rows, LLMReasoner(catalog, tiny_lm, tokenizer, calibrate="batch")
    )
    assert count.asked == 0  # calibration is not part of the key: it runs after the cache
    assert _summary(cached) == _summary(fresh)


def test_cheap_readers_are_not_cached(catalog, episodes, tmp_path):
    from toolkit.reasoners.bm25 import BM25Reasoner

    store = ContentStore(tmp_path / "cache")
    evaluate_row("bm25", episodes, _rows(episodes), BM25Reasoner(catalog), store=store)
    assert len(store) == 0


def test_answers_round_trip_through_json():
    a = Answer(pick=2, scores=[0.1, 0.5, 0.9], raw="C", meta={"order": (2, 0, 1), "shifts": 1})
    back = Answer.from_json(a.to_json())
    assert back.pick == 2 and back.scores == a.scores and back.raw == "C"
    assert back.meta == {"order": [2, 0, 1], "shifts": 1}
