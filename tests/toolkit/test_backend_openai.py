"""The openai backend against a fake OpenAI-compatible server on 127.0.0.1: request
building, retries (Retry-After on 429, 5xx), timeouts, unreadable answers, streams, and
the API key that must reach the server and nothing else."""

from __future__ import annotations

import json
import logging

import pytest

from grammars.base import Constraint
from tests.toolkit.fake_openai import Reply, chat_body, fake_server, stream_chunks
from toolkit.backends import get_backend
from toolkit.backends.base import SamplingParams
from toolkit.backends.openai import (
    FailedCompletion,
    OpenAIGenerator,
    RemoteError,
    structured_body,
)
from toolkit.errors import ConfigError

CHOICE = Constraint("choice", '["A","B","C"]', max_tokens=1)
SECRET = "sk-test-0123456789-never-log-me"


def generator(url: str, **kwargs) -> OpenAIGenerator:
    kwargs.setdefault("max_retries", 2)
    kwargs.setdefault("timeout", 5.0)
    return OpenAIGenerator("fake-model", base_url=url, **kwargs)


def test_registered_by_name():
    assert get_backend("openai") is OpenAIGenerator


def test_chat_request_carries_grammar_n_budget_and_logprobs():
    with fake_server(Reply(body=chat_body(["B", "A"]))) as server:
        out = generator(server.url).generate(
            ["pick one"], CHOICE, n=2, params=SamplingParams(temperature=0.7, seed=3)
        )
    (seen,) = server.seen
    assert seen.path == "/v1/chat/completions"
    body = seen.body
    assert body["messages"] == [{"role": "user", "content": "pick one"}]
    assert body["structured_outputs"] == {"choice": ["A", "B", "C"]}
    assert (body["n"], body["max_tokens"], body["temperature"], body["seed"]) == (2, 1, 0.7, 3)
    assert body["logprobs"] is True and body["return_tokens_as_token_ids"] is True
    assert [c.text for c in out[0]] == ["B", "A"]


def test_completions_endpoint_and_token_ids():
    reply = {
        "id": "x",
        "object": "text_completion",
        "created": 0,
        "model": "fake-model",
        "choices": [
            {
                "index": 0,
                "text": "Hi!",
                "finish_reason": "length",
                "logprobs": {
                    "tokens": ["token_id:17", "token_id:5"],
                    "token_logprobs": [-0.5, -1.25],
                    "top_logprobs": None,
                    "text_offset": [0, 2],
                },
            }
        ],
    }
    with fake_server(Reply(body=reply)) as server:
        (row,) = generator(server.url, chat=False).generate(["Say hi"])
    assert server.seen[0].path == "/v1/completions"
    assert server.seen[0].body["prompt"] == "Say hi"
    (c,) = row
    assert (c.text, c.token_ids, c.logprobs, c.finish_reason) == (
        "Hi!",
        [17, 5],
        [-0.5, -1.25],
        "length",
    )
    assert c.unmasked_logprobs == c.logprobs  # no grammar: the same distribution


def test_response_format_mode_wraps_a_choice_and_unwraps_the_answer():
    body = structured_body(CHOICE, "response_format")
    schema = body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["answer"] == {"type": "string", "enum": ["A", "B", "C"]}
    with fake_server(Reply(body=chat_body(['{"answer":"C"}']))) as server:
        (row,) = generator(server.url, structured="response_format").generate(["q"], CHOICE)
    assert "structured_outputs" not in server.seen[0].body
    assert row[0].text == "C"
    with pytest.raises(ConfigError, match="JSON schemas only"):
        structured_body(Constraint("cfg", "start: 'a'"), "response_format")


def test_a_grammar_with_a_schema_fallback_reaches_servers_as_that_schema():
    """The rewrite's distinct-titles grammar is llguidance Lark (``%json`` inside); a
    server gets the JSON Schema it falls back to, in either structured mode."""
    from grammars import GrammarContext, get_grammar

    ctx = GrammarContext(extra={"titles": ["Heat", "Kolya"], "aspects": ["Drama"]})
    constraint = get_grammar("rewrite").constraint(ctx)
    assert constraint.kind == "cfg"
    fallback = json.loads(constraint.fallback)
    vllm = structured_body(constraint, "vllm")["extra_body"]["structured_outputs"]
    assert vllm == {"json": fallback}
    wrapped = structured_body(constraint, "response_format")["response_format"]["json_schema"]
    assert wrapped["schema"] == fallback


def test_429_waits_for_retry_after_then_succeeds():
    limited = Reply(
        status=429, body={"error": {"message": "slow down"}}, headers={"retry-after": "1"}
    )
    with fake_server(limited, Reply(body=chat_body(["A"]))) as server:
        (row,) = generator(server.url).generate(["q"], CHOICE)
    assert row[0].text == "A"
    first, second = server.seen
    # the client's own backoff would wait <= 0.5 s on the first retry: 1 s is the header's
    assert second.at - first.at >= 0.95


def test_500_is_retried_and_persistent_500_raises_a_clear_error(monkeypatch):
    monkeypatch.setenv("VTK_TEST_KEY", SECRET)
    failing = Reply(status=500, body={"error": {"message": "boom"}})
    with fake_server(failing, Reply(body=chat_body(["B"]))) as server:
        (row,) = generator(server.url, api_key_env="VTK_TEST_KEY").generate(["q"], CHOICE)
    assert row[0].text == "B" and len(server.seen) == 2
    with fake_server(default=lambda body: failing) as server:
        gen = generator(server.url, max_retries=1, api_key_env="VTK_TEST_KEY")
        with pytest.raises(RemoteError, match="HTTP 500") as info:
            gen.generate(["q"], CHOICE)
    assert len(server.seen) == 2  # one try + one retry
    assert server.url in str(info.value) and SECRET not in str(info.value)


def test_timeout_is_retried_then_raises():
    with fake_server(Reply(delay=1.5, body=chat_body(["A"])), Reply(body=chat_body(["C"]))) as s:
        (row,) = generator(s.url, timeout=0.4).generate(["q"], CHOICE)
    assert row[0].text == "C" and len(s.seen) == 2
    slow = Reply(delay=1.5, body=chat_body(["A"]))
    with fake_server(default=lambda body: slow) as s, pytest.raises(RemoteError, match="Timeout"):
        generator(s.url, timeout=0.4, max_retries=0).generate(["q"], CHOICE)


def test_malformed_json_is_an_invalid_completion_not_a_crash():
    broken = Reply(body='{"choices": [ {"index": 0, "mess', headers={})
    with fake_server(broken, default=lambda body: Reply(body=chat_body(["A"]))) as server:
        rows = generator(server.url, concurrency=1).generate(["q1", "q2"], CHOICE)
    first, second = rows
    assert isinstance(first[0], FailedCompletion) and first[0].text == ""
    assert "unreadable" in first[0].error
    assert second[0].text == "A"


def test_wrong_number_of_choices_is_invalid():
    with fake_server(Reply(body=chat_body(["A"]))) as server:
        (row,) = generator(server.url).generate(["q"], CHOICE, n=2)
    assert all(isinstance(c, FailedCompletion) for c in row) and len(row) == 2


def test_stream_is_assembled_and_a_truncated_stream_is_invalid():
    with fake_server(Reply(stream=stream_chunks("BAC"))) as server:
        (row,) = generator(server.url, stream=True).generate(["q"])
    assert server.seen[0].body["stream"] is True
    assert row[0].text == "BAC" and row[0].finish_reason == "stop"
    cut = Reply(stream=stream_chunks("BAC", finish=False), done=False)
    with fake_server(cut) as server:
        (row,) = generator(server.url, stream=True).generate(["q"])
    assert isinstance(row[0], FailedCompletion) and "ended before" in row[0].error


def test_concurrency_limit_holds():
    slow = Reply(delay=0.3, body=chat_body(["A"]))
    with fake_server(default=lambda body: slow) as server:
        rows = generator(server.url, concurrency=2).generate([f"q{i}" for i in range(6)], CHOICE)
    assert [r[0].text for r in rows] == ["A"] * 6
    assert server.max_in_flight == 2
    # answers come back in prompt order whatever order the server finished in
    assert sorted(s.body["messages"][0]["content"] for s in server.seen) == [
        f"q{i}" for i in range(6)
    ]


def test_api_key_reaches_the_server_only(monkeypatch, caplog):
    monkeypatch.setenv("VTK_TEST_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    with fake_server(Reply(status=503, body={}), Reply(body=chat_body(["A"]))) as server:
        gen = generator(server.url, api_key_env="VTK_TEST_KEY")
        gen.generate(["q"], CHOICE)
    assert server.seen[0].headers["authorization"] == f"Bearer {SECRET}"
    assert SECRET not in repr(gen)
    assert SECRET not in caplog.text
    assert all(SECRET not in json.dumps(s.body) for s in server.seen)


def test_missing_key_variable_sends_a_placeholder(monkeypatch):
    monkeypatch.delenv("VTK_UNSET_KEY", raising=False)
    with fake_server() as server:
        generator(server.url, api_key_env="VTK_UNSET_KEY").generate(["q"], CHOICE)
    assert server.seen[0].headers["authorization"] == "Bearer EMPTY"
