"""The openai reasoner against a fake server: the prompt it sends, label scores from the
server's top log-probs mapped back through the candidate shuffle, and answers outside the
candidates counted invalid."""

from __future__ import annotations

import doctest

import pytest

from tests.toolkit.fake_openai import Reply, chat_body, fake_server
from toolkit.reasoners import build_reasoner, get_reasoner
from toolkit.reasoners import openai as openai_reasoner
from toolkit.reasoners.base import ReasonerInput
from toolkit.reasoners.openai import MISSING, OpenAIReasoner
from toolkit.records import Catalog, Item
from toolkit.tasks import LABELS

CANDIDATES = tuple(str(i) for i in range(1, 11))


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog(
        Item(item_id=c, title=f"Movie {c}", year=1990, genres=("Drama",)) for c in CANDIDATES
    )


def reasoner(catalog, url, **kwargs) -> OpenAIReasoner:
    return OpenAIReasoner(catalog, "fake-model", base_url=url, max_retries=0, **kwargs)


def test_doctests():
    assert doctest.testmod(openai_reasoner).failed == 0


def test_registered_and_built_from_options(catalog):
    assert get_reasoner("openai") is OpenAIReasoner
    built = build_reasoner("openai", catalog, options={"model": "m", "base_url": "http://x/v1"})
    assert built.generator.model == "m" and built.generator.base_url == "http://x/v1"


def test_label_scores_follow_the_shuffle_back(catalog):
    inp = ReasonerInput("liked dramas", CANDIDATES)
    with fake_server() as server:
        r = reasoner(catalog, server.url)
        order = r._order(inp)
        # the server answers the label shown at position 3, and lists labels 3 and 5
        top = {LABELS[3]: -0.2, LABELS[5]: -1.9, "hello": -4.0}
        server.script.append(
            Reply(body=chat_body([LABELS[3]], logprobs=[[(LABELS[3], -0.2)]], top=[[top]]))
        )
        (answer,) = r.answer_batch([inp])
    body = server.seen[0].body
    assert body["structured_outputs"] == {"choice": list(LABELS[:10])}
    assert body["max_tokens"] == 1 and body["temperature"] == 0.0 and body["top_logprobs"] == 20
    prompt = body["messages"][0]["content"]
    assert "liked dramas" in prompt and f"Movie {CANDIDATES[order[3]]}" in prompt
    assert answer.valid and answer.pick == order[3]
    assert answer.scores[order[3]] > answer.scores[order[5]] > MISSING
    assert answer.scores[order[0]] == MISSING
    assert max(range(10), key=answer.scores.__getitem__) == answer.pick


@pytest.mark.parametrize("text", ["K", "", "A B", "Movie 3"])
def test_an_answer_outside_the_candidates_is_invalid(catalog, text):
    inp = ReasonerInput("ctx", CANDIDATES)
    with fake_server(Reply(body=chat_body([text]))) as server:
        r = reasoner(catalog, server.url)
        (answer,) = r.answer_batch([inp])
    assert not answer.valid and answer.scores == [0.0] * 10
    assert r.stats()["invalid"] == 1


def test_malformed_response_is_invalid_and_the_batch_goes_on(catalog):
    inputs = [ReasonerInput(f"ctx {i}", CANDIDATES) for i in range(3)]
    with fake_server(
        Reply(body="not json at all"), default=lambda b: Reply(body=chat_body(["B"]))
    ) as server:
        answers = reasoner(catalog, server.url, concurrency=1).answer_batch(inputs)
    assert [a.valid for a in answers] == [False, True, True]
    assert "unreadable" in answers[0].meta["error"]


def test_without_logprobs_the_pick_scores_highest(catalog):
    inp = ReasonerInput("ctx", CANDIDATES)
    with fake_server(Reply(body=chat_body(["C"]))) as server:
        (answer,) = reasoner(catalog, server.url).answer_batch([inp])
    assert answer.scores[answer.pick] == 0.0 and sorted(answer.scores)[:-1] == [-1.0] * 9


def test_response_format_mode_reads_the_wrapped_answer(catalog):
    inp = ReasonerInput("ctx", CANDIDATES[:4])
    with fake_server(Reply(body=chat_body(['{"answer": "D"}']))) as server:
        r = reasoner(catalog, server.url, structured="response_format")
        (answer,) = r.answer_batch([inp])
    assert "response_format" in server.seen[0].body and server.seen[0].body["max_tokens"] == 8
    assert answer.valid and answer.raw == "D"
