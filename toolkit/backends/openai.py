"""The ``openai`` backend: any OpenAI-compatible server (``vllm serve``, a hosted API)
behind the ``Generator`` protocol, through the ``openai`` client library.

What the client already does is left to it: retries with exponential backoff on 408, 409,
429, 5xx, connection errors and timeouts, honouring ``Retry-After`` / ``Retry-After-Ms``
(``max_retries``), and the per-request ``timeout``. vtk adds a concurrency limit over a
batch (a thread pool; the client is thread-safe), the grammar sent as structured output,
and an answer checked on return: a response that cannot be read (malformed JSON, a stream
cut before its finish reason) becomes a ``FailedCompletion`` (empty text, which no grammar
accepts, and the reason in ``error``) instead of ending the run.
Errors that outlast the retries raise ``RemoteError``, naming the server, not the key.

The API key is read from the environment variable named by ``api_key_env`` when the
client is made; it is never an argument, never in ``repr``, never logged or written.

Structured outputs (``structured``): ``"vllm"`` sends vLLM's ``structured_outputs``
(``json`` / ``regex`` / ``choice`` / ``grammar``) in the request body; ``"response_format"``
sends a JSON schema as OpenAI's ``response_format`` (a choice becomes a string enum, which
the answer then is, quoted); ``"none"`` sends nothing (the answer is still validated by the
caller). Log-probs are those the server reports: on a vLLM server started with
``--logprobs-mode processed_logprobs`` they are the masked, temperature-scaled ones the
sampler drew from; token ids come back when the server supports vLLM's
``return_tokens_as_token_ids``. ``unmasked_logprobs`` is empty when a grammar was sent:
no server reports the full-vocabulary value next to the masked one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from grammars.base import Constraint
from toolkit.backends.base import (
    BACKENDS,
    Completion,
    Generator,
    SamplingParams,
    check_request,
)
from toolkit.errors import ConfigError, MissingDependencyError, VtkError

StructuredMode = Literal["vllm", "response_format", "none"]
VLLM_KEYS = {"json_schema": "json", "regex": "regex", "choice": "choice", "cfg": "grammar"}
"""vtk constraint kind -> the field of vLLM's ``StructuredOutputsParams`` that carries it."""


class RemoteError(VtkError):
    """A server that kept failing after the client's retries (down, overloaded, refusing)."""


class BadResponse(ValueError):
    """A response that arrived but cannot be read as an answer."""


@dataclass
class RemoteCompletion(Completion):
    """A server's completion; ``top_logprobs[i]`` maps the most likely tokens at step ``i``
    to their log-probs (as many as ``top_logprobs`` asked for)."""

    top_logprobs: list[dict[str, float]] = field(default_factory=list)


@dataclass
class FailedCompletion(Completion):
    """A sample the server answered unreadably: empty, invalid under any grammar."""

    error: str = ""


def structured_body(constraint: Constraint | None, mode: StructuredMode) -> dict[str, Any]:
    """The request fields that carry ``constraint`` to the server.

    >>> structured_body(Constraint("choice", '["A","B"]'), "vllm")
    {'extra_body': {'structured_outputs': {'choice': ['A', 'B']}}}
    >>> structured_body(Constraint("regex", "[0-9]+"), "none")
    {}
    """
    if constraint is None or mode == "none":
        return {}
    if constraint.fallback is not None:  # an llguidance-only grammar: send its JSON Schema
        constraint = Constraint("json_schema", constraint.fallback, constraint.engine)
    if mode == "vllm":
        spec: Any = constraint.spec
        if constraint.kind in ("json_schema", "choice"):
            spec = json.loads(spec)
        return {"extra_body": {"structured_outputs": {VLLM_KEYS[constraint.kind]: spec}}}
    if constraint.kind == "json_schema":
        schema = json.loads(constraint.spec)
    elif constraint.kind == "choice":
        schema = {"type": "string", "enum": json.loads(constraint.spec)}
    else:
        raise ConfigError(
            f"structured='response_format' sends JSON schemas only, not a {constraint.kind} "
            "constraint; use structured='vllm' (a vLLM server) or 'none'"
        )
    wrapped = schema if schema.get("type") == "object" else {"type": "object"}
    if wrapped is not schema:  # OpenAI wants an object at the top: {"answer": ...}
        wrapped = {
            "type": "object",
            "properties": {"answer": schema},
            "required": ["answer"],
            "additionalProperties": False,
        }
    return {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "vtk_output", "schema": wrapped, "strict": True},
        }
    }


def unwrap_answer(text: str, constraint: Constraint | None, mode: StructuredMode) -> str:
    """The answer inside a ``response_format`` wrapper (``{"answer": "B"}`` -> ``B``)."""
    if mode != "response_format" or constraint is None or constraint.kind == "json_schema":
        return text
    try:
        return str(json.loads(text)["answer"])
    except (ValueError, KeyError, TypeError):
        return text


@dataclass
class Choice:
    """One choice of a response as read (streamed parts are added up)."""

    index: int
    text: str = ""
    tokens: list[str] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    top: list[dict[str, float]] = field(default_factory=list)
    finish_reason: str | None = None

    def add_chat_logprobs(self, logprobs: Any) -> None:
        for entry in getattr(logprobs, "content", None) or []:
            self.tokens.append(entry.token)
            self.logprobs.append(float(entry.logprob))
            alternatives = entry.top_logprobs or []
            self.top.append({t.token: float(t.logprob) for t in alternatives})

    def add_text_logprobs(self, logprobs: Any) -> None:
        if logprobs is None:
            return
        self.tokens += list(logprobs.tokens or [])
        self.logprobs += [float(x) for x in logprobs.token_logprobs or []]
        self.top += [dict(t or {}) for t in logprobs.top_logprobs or []]


def token_id(token: str) -> int | None:
    """vLLM's ``token_id:123`` form (``return_tokens_as_token_ids``) -> 123, else None.

    >>> token_id("token_id:42"), token_id("Hello")
    (42, None)
    """
    if token.startswith("token_id:"):
        try:
            return int(token[len("token_id:") :])
        except ValueError:
            return None
    return None


def make_client(
    base_url: str, api_key_env: str, *, timeout: float, max_retries: int, http_client: Any = None
) -> Any:
    """An ``openai.OpenAI`` client; the key comes from ``api_key_env`` (``"EMPTY"`` when the
    variable is unset: a local vLLM server takes any key)."""
    try:
        import openai
    except ImportError as exc:
        raise MissingDependencyError(
            "the openai backend needs the openai client: pip install openai"
        ) from exc
    return openai.OpenAI(
        base_url=base_url,
        api_key=os.environ.get(api_key_env) or "EMPTY",
        timeout=timeout,
        max_retries=max_retries,
        http_client=http_client,
    )


@BACKENDS.register("openai")
class OpenAIGenerator(Generator):
    """Completions from an OpenAI-compatible server.

    ``chat``: each prompt is one user message (``/chat/completions``), else raw text
    (``/completions``). ``concurrency`` requests are in flight at once; each asks for the
    prompt's ``n`` samples. ``extra_body`` is merged into every request (server options
    such as vLLM's ``top_k`` or ``repetition_penalty``).
    """

    name = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str = "http://127.0.0.1:8000/v1",
        api_key_env: str = "OPENAI_API_KEY",
        chat: bool = True,
        structured: StructuredMode = "vllm",
        logprobs: bool = True,
        top_logprobs: int = 0,
        token_ids: bool = True,
        concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 4,
        stream: bool = False,
        extra_body: dict[str, Any] | None = None,
        http_client: Any = None,
    ):
        if concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, got {concurrency}")
        if structured not in ("vllm", "response_format", "none"):
            raise ConfigError(
                f"structured must be 'vllm', 'response_format' or 'none', got {structured!r}"
            )
        self.model = model
        self.base_url = base_url
        self.chat = chat
        self.structured: StructuredMode = structured
        self.logprobs = logprobs
        self.top_logprobs = top_logprobs
        self.token_ids = token_ids and structured == "vllm"
        self.concurrency = concurrency
        self.stream = stream
        self.extra_body = dict(extra_body or {})
        self.client = make_client(
            base_url, api_key_env, timeout=timeout, max_retries=max_retries, http_client=http_client
        )

    def __repr__(self) -> str:
        return f"OpenAIGenerator(model={self.model!r}, base_url={self.base_url!r})"

    def request(
        self, prompt: str, constraint: Constraint | None, n: int, params: SamplingParams
    ) -> dict[str, Any]:
        """The keyword arguments of one ``create`` call (no key in them)."""
        body = structured_body(constraint, self.structured)
        extra = {**self.extra_body, **body.pop("extra_body", {})}
        if self.token_ids and self.logprobs:
            extra["return_tokens_as_token_ids"] = True
        if params.top_k:
            extra["top_k"] = params.top_k
        kwargs: dict[str, Any] = {
            "model": self.model,
            "n": n,
            "max_tokens": params.budget(constraint),
            "temperature": max(params.temperature, 0.0),
            "top_p": params.top_p,
            **body,
        }
        if params.seed is not None:
            kwargs["seed"] = params.seed
        if self.chat:
            kwargs["messages"] = [{"role": "user", "content": prompt}]
            if self.logprobs:
                kwargs.update(logprobs=True, top_logprobs=self.top_logprobs)
        else:
            kwargs["prompt"] = prompt
            if self.logprobs:
                kwargs["logprobs"] = self.top_logprobs
        if extra:
            kwargs["extra_body"] = extra
        if self.stream:
            kwargs["stream"] = True
        return kwargs

    def generate(
        self,
        prompts: Sequence[str],
        constraints: Sequence[Constraint | None] | Constraint | None = None,
        *,
        n: int = 1,
        params: SamplingParams | None = None,
    ) -> list[list[Completion]]:
        rows, params = check_request(prompts, constraints, n, params)
        if len(prompts) <= 1 or self.concurrency == 1:
            return [self.complete(p, c, n, params) for p, c in zip(prompts, rows, strict=True)]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(prompts))) as pool:
            futures = [
                pool.submit(self.complete, p, c, n, params)
                for p, c in zip(prompts, rows, strict=True)
            ]
            return [f.result() for f in futures]

    def complete(
        self, prompt: str, constraint: Constraint | None, n: int, params: SamplingParams
    ) -> list[Completion]:
        """``n`` completions of one prompt; unreadable responses become invalid ones."""
        import openai

        kwargs = self.request(prompt, constraint, n, params)
        api = self.client.chat.completions if self.chat else self.client.completions
        try:
            response = api.create(**kwargs)
            choices = self._read_stream(response, n) if self.stream else self._read(response)
        except (openai.APIResponseValidationError, BadResponse, ValueError) as exc:
            return [self._invalid(f"unreadable response: {exc}") for _ in range(n)]
        except openai.APIStatusError as exc:
            raise RemoteError(
                f"{self.base_url}: HTTP {exc.status_code} for model {self.model!r} "
                f"after the client's retries: {_short(exc.message)}"
            ) from None
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            raise RemoteError(
                f"{self.base_url}: {type(exc).__name__} after the client's retries "
                "(is the server up? raise timeout or max_retries for a slow one)"
            ) from None
        choices.sort(key=lambda c: c.index)
        if len(choices) != n:
            why = f"asked for {n} choices, got {len(choices)}"
            return [self._invalid(why) for _ in range(n)]
        return [self._completion(choice, constraint) for choice in choices]

    def _read(self, response: Any) -> list[Choice]:
        if not hasattr(response, "choices") or response.choices is None:
            raise BadResponse(f"no choices in {type(response).__name__}")
        out = []
        for choice in response.choices:
            read = Choice(choice.index, finish_reason=choice.finish_reason)
            if self.chat:
                read.text = choice.message.content or ""
                read.add_chat_logprobs(choice.logprobs)
            else:
                read.text = choice.text or ""
                read.add_text_logprobs(choice.logprobs)
            out.append(read)
        return out

    def _read_stream(self, stream: Any, n: int) -> list[Choice]:
        """Accumulate a streamed response; a choice without a finish reason was cut off."""
        choices = {i: Choice(i) for i in range(n)}
        for chunk in stream:
            for part in chunk.choices or []:
                choice = choices.setdefault(part.index, Choice(part.index))
                choice.text += (part.delta.content if self.chat else part.text) or ""
                if self.chat:
                    choice.add_chat_logprobs(part.logprobs)
                else:
                    choice.add_text_logprobs(part.logprobs)
                choice.finish_reason = part.finish_reason or choice.finish_reason
        cut = [i for i, c in choices.items() if c.finish_reason is None]
        if cut:
            raise BadResponse(f"the stream ended before choices {cut} finished")
        return list(choices.values())

    def _completion(self, choice: Choice, constraint: Constraint | None) -> RemoteCompletion:
        ids = [token_id(tok) for tok in choice.tokens]
        return RemoteCompletion(
            text=unwrap_answer(choice.text, constraint, self.structured),
            token_ids=[i for i in ids if i is not None] if None not in ids else [],
            logprobs=choice.logprobs,
            unmasked_logprobs=list(choice.logprobs) if constraint is None else [],
            finish_reason="length" if choice.finish_reason == "length" else "stop",
            top_logprobs=choice.top,
        )

    @staticmethod
    def _invalid(why: str) -> FailedCompletion:
        return FailedCompletion(
            text="",
            token_ids=[],
            logprobs=[],
            unmasked_logprobs=[],
            finish_reason="stop",
            error=why,
        )


def _short(message: str, limit: int = 300) -> str:
    return message if len(message) <= limit else message[:limit] + "..."
