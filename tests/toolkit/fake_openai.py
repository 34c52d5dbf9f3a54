"""A small OpenAI-compatible HTTP server on 127.0.0.1 for the failure cases of the openai
backend: each request takes the next scripted ``Reply`` (then ``default``), and every
request is recorded with its headers, body and arrival time."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    """A dict (sent as JSON), str or bytes (sent as they are)."""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    stream: list[dict[str, Any]] | None = None
    """Server-sent events, one JSON chunk each; ``done`` adds the final ``[DONE]``."""
    done: bool = True


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


def chat_body(
    texts: list[str], *, logprobs: list[list[tuple[str, float]]] | None = None, top: Any = None
) -> dict[str, Any]:
    """A chat completion with one choice per text (``top[i][j]``: step j's alternatives)."""
    choices = []
    for i, text in enumerate(texts):
        content = None
        if logprobs is not None:
            content = [
                {
                    "token": tok,
                    "logprob": lp,
                    "bytes": None,
                    "top_logprobs": [
                        {"token": t, "logprob": v, "bytes": None}
                        for t, v in ((top[i][j] if top else {}) or {}).items()
                    ],
                }
                for j, (tok, lp) in enumerate(logprobs[i])
            ]
        choices.append(
            {
                "index": i,
                "message": {"role": "assistant", "content": text},
                "logprobs": None if content is None else {"content": content},
                "finish_reason": "stop",
            }
        )
    return {
        "id": "fake",
        "object": "chat.completion",
        "created": 0,
        "model": "fake-model",
        "choices": choices,
    }


def stream_chunks(text: str, *, finish: bool = True) -> list[dict[str, Any]]:
    """A chat stream of ``text`` one character per chunk (no finish reason if not ``finish``)."""
    chunks = []
    for k, ch in enumerate(text):
        last = finish and k == len(text) - 1
        chunks.append(
            {
                "id": "fake",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "fake-model",
                "choices": [
                    {
                        "index": 0,
                        "delta": {"content": ch},
                        "finish_reason": "stop" if last else None,
                    }
                ],
            }
        )
    return chunks


class FakeServer:
    def __init__(self, default: Callable[[dict[str, Any]], Reply] | None = None):
        self.script: list[Reply] = []
        self.default = default or (lambda body: Reply(body=chat_body(["A"])))
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake.lock:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    fake.seen.append(Seen(self.path, headers, body, time.monotonic()))
                    reply = fake.script.pop(0) if fake.script else fake.default(body)
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    time.sleep(reply.delay)
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        fake.send(self, reply)
                finally:
                    with fake.lock:
                        fake.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @staticmethod
    def send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.stream is not None:
            handler.send_response(reply.status)
            handler.send_header("content-type", "text/event-stream")
            handler.end_headers()
            for chunk in reply.stream:
                handler.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            if reply.done:
                handler.wfile.write(b"data: [DONE]\n\n")
            return
        body = reply.body
        if isinstance(body, dict):
            data, kind = json.dumps(body).encode(), "application/json"
        else:
            data = body.encode() if isinstance(body, str) else (body or b"")
            kind = reply.headers.get("content-type", "application/json")
        handler.send_response(reply.status)
        handler.send_header("content-type", kind)
        handler.send_header("content-length", str(len(data)))
        for key, value in reply.headers.items():
            if key.lower() != "content-type":
                handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextlib.contextmanager
def fake_server(*script: Reply, default: Any = None) -> Iterator[FakeServer]:
    server = FakeServer(default)
    server.script.extend(script)
    with server:
        yield server
