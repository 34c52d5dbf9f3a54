"""A verbalizer + reasoner behind a small HTTP API (the library behind ``vtk serve``).

``POST /rerank`` with ``{"history": [interaction, ...], "candidates": [item_id, ...],
"user_id": "..."}`` (interactions as in a task file: ``item_id``, ``event``, optional
``timestamp``, ``duration``, ``attrs``) answers ``{"ranking": [item_id, ...], "scores":
[...], "pick": item_id | null, "valid": bool, "context": text, "compression": ...}``:
the candidates best first, scores in the order posted. ``GET /health`` says what is
served. Bad requests get HTTP 400 with every problem named by field.

The standard library's threading server is enough: requests are answered one at a time
under a lock (one model in memory); verbalizations are reused from the content-keyed
store when the verbalizer is an LLM (``toolkit.verbalization_cache``), so a history seen
before is not verbalized again.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from toolkit.reasoners.base import Reasoner, ReasonerInput
from toolkit.records import Catalog, History, Interaction
from toolkit.tasks import LABELS
from toolkit.verbalizers.base import Verbalizer

MAX_BODY = 1 << 20


class RerankRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = "anonymous"
    history: list[Interaction] = Field(min_length=1)
    candidates: list[str] = Field(min_length=2, max_length=len(LABELS))

    @field_validator("candidates")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("candidates must be distinct item ids")
        return value


class BadRequest(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


class RerankService:
    """Verbalize the last ``max_history`` interactions, ask the reasoner, rank."""

    def __init__(
        self, verbalizer: Verbalizer, reasoner: Reasoner, catalog: Catalog, max_history: int = 20
    ):
        self.verbalizer = verbalizer
        self.reasoner = reasoner
        self.catalog = catalog
        self.max_history = max_history
        self.lock = threading.Lock()

    def parse(self, payload: Any) -> RerankRequest:
        try:
            request = RerankRequest.model_validate(payload)
        except ValidationError as exc:
            raise BadRequest(
                [f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()]
            ) from None
        unknown = [
            f"candidates.{i}: unknown item {c!r}"
            for i, c in enumerate(request.candidates)
            if c not in self.catalog
        ]
        unknown += [
            f"history.{i}.item_id: unknown item {x.item_id!r}"
            for i, x in enumerate(request.history)
            if x.item_id not in self.catalog
        ]
        if unknown:
            raise BadRequest(unknown)
        return request

    def rerank(self, payload: Any) -> dict[str, Any]:
        request = self.parse(payload)
        history = History(user_id=request.user_id, interactions=request.history)
        window = history.last(self.max_history)
        with self.lock:
            (verbalization,) = self.verbalizer.verbalize_batch([window], self.catalog)
            answer = self.reasoner.answer(
                ReasonerInput(verbalization.text, tuple(request.candidates))
            )
        order = sorted(range(len(answer.scores)), key=lambda i: -answer.scores[i])
        if answer.pick is not None:  # the answer first, then by score
            order.remove(answer.pick)
            order.insert(0, answer.pick)
        return {
            "ranking": [request.candidates[i] for i in order],
            "scores": answer.scores,
            "pick": None if answer.pick is None else request.candidates[answer.pick],
            "valid": answer.valid,
            "context": verbalization.text,
            "compression": verbalization.compression,
            "verbalizer": self.verbalizer.name,
            "reasoner": self.reasoner.name,
        }

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "verbalizer": self.verbalizer.name,
            "reasoner": self.reasoner.name,
            "items": len(self.catalog),
        }


def make_server(service: RerankService, host: str = "127.0.0.1", port: int = 8080) -> Any:
    """A ``ThreadingHTTPServer`` for ``service`` (``port=0``: any free port)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt: str, *args: Any) -> None:
            pass

        def reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/health":
                self.reply(200, service.health())
            else:
                self.reply(404, {"error": f"no route {self.path}; try POST /rerank"})

        def do_POST(self) -> None:
            if self.path.rstrip("/") != "/rerank":
                self.reply(404, {"error": f"no route {self.path}; try POST /rerank"})
                return
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY:
                self.reply(413, {"error": f"body over {MAX_BODY} bytes"})
                return
            try:
                payload = json.loads(self.rfile.read(length) or b"null")
                self.reply(200, service.rerank(payload))
            except json.JSONDecodeError as exc:
                self.reply(400, {"error": f"body is not JSON: {exc}"})
            except BadRequest as exc:
                self.reply(400, {"error": "bad request", "problems": exc.problems})
            except Exception as exc:  # a failing model must not take the server down
                self.reply(500, {"error": f"{type(exc).__name__}: {exc}"})

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
