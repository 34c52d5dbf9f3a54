"""Verbalize task examples into a resumable JSONL file (the library behind ``vtk verbalize``).

One row per (verbalizer, example): the text, the raw structured output (what an LLM wrote,
or a rule-based verbalizer's plan/rewrite JSON; None for the template), the
``GrammarContext`` of the grammar that output obeys (so ``vtk validate --grammar NAME FILE``
can check it), the costs, the window shown and a content ``key`` (``row_key``: example,
window, verbalizer code and weights, grammar, prompt, decoding). Rows are appended one
batch at a time and fsynced, so an interrupted run keeps every finished batch; a rerun
reuses only rows whose key matches and drops a half-written last line with a warning.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from toolkit.errors import InputError
from toolkit.records import Catalog, History
from toolkit.tasks import RerankExample
from toolkit.verbalizers.base import LLMVerbalizer, Verbalization, Verbalizer

ROLE_OF: dict[str, str] = {
    "actions": "plan",
    "numbered_actions": "plan",
    "heuristic_actions": "plan",
    "rewrite": "rewrite",
    "heuristic_rewrite": "rewrite",
}
"""Which of its domain's grammar roles a verbalizer's structured output obeys (absent:
free text, no grammar); ``Domain.grammar(role)`` names the grammar."""


def _plan_context(history: History, catalog: Catalog, domain: str) -> Any:
    from grammars.base import GrammarContext

    return GrammarContext(n_interactions=len(history), domain=domain)


def _rewrite_context(history: History, catalog: Catalog, domain: str) -> Any:
    from toolkit.verbalizers.rewrite import rewrite_shape

    dom, shape = rewrite_shape(domain)
    return shape.context(history, catalog, dom)


CONTEXTS: dict[str, Callable[[History, Catalog, str], Any]] = {
    "plan": _plan_context,
    "rewrite": _rewrite_context,
}
"""Role -> the ``GrammarContext`` of one history (what its constraint was built from)."""


def _role_of(verbalizer: Verbalizer) -> str | None:
    if getattr(verbalizer, "structured", False):
        return "rewrite"
    return ROLE_OF.get(verbalizer.name)


def grammar_of(verbalizer: Verbalizer) -> str | None:
    """The grammar of a verbalizer's output in its domain; ``zero_shot`` uses the rewrite
    grammar when structured."""
    from actions import get_domain

    role = _role_of(verbalizer)
    if role is None:
        return None
    if hasattr(verbalizer, "grammar_name"):  # a verbalizer that picks its own format
        return verbalizer.grammar_name()
    return get_domain(getattr(verbalizer, "domain", "streaming")).grammar(role)


def build_verbalizer(
    name: str,
    *,
    model: str | None = None,
    domain: str = "streaming",
    batch_size: int = 8,
    seed: int | None = 0,
    max_new_tokens: int | None = None,
    options: dict[str, Any] | None = None,
    tokenizer: Any = None,
) -> Verbalizer:
    """A ready verbalizer by registry name. LLM verbalizers get a transformers generator on
    ``model`` (a folder, an adapter folder or ``"embedded"``) with greedy decoding; the others
    get ``tokenizer`` (default: that model's) so that token counts and compression are
    comparable. ``options`` are extra constructor arguments of the verbalizer class."""
    from toolkit.verbalizers import get_verbalizer

    cls = get_verbalizer(name)
    options = dict(options or {})
    if issubclass(cls, LLMVerbalizer):
        from toolkit.backends.base import SamplingParams
        from toolkit.backends.transformers_backend import TransformersGenerator

        generator = TransformersGenerator.from_pretrained(
            model or "embedded", batch_size=batch_size
        )
        params = SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0, seed=seed)
        return cls(
            generator, tokenizer=generator.tokenizer, domain=domain, params=params, **options
        )
    if tokenizer is None:
        from toolkit.models import load_tokenizer

        tokenizer = load_tokenizer(model or "embedded")
    if "domain" in inspect.signature(cls).parameters:
        options.setdefault("domain", domain)
    return cls(tokenizer, **options)


def to_row(
    example_id: str,
    verbalizer: Verbalizer,
    verbalization: Verbalization,
    history: History,
    catalog: Catalog,
) -> dict[str, Any]:
    """The JSONL row of one verbalization."""
    meta = dict(verbalization.meta)
    output = meta.pop("output", None)
    if output is None and hasattr(verbalizer, "target"):
        output = verbalizer.target(history, catalog)  # a rule-based plan / rewrite
    grammar = grammar_of(verbalizer)
    context = None
    if grammar is not None:
        domain = getattr(verbalizer, "domain", "streaming")
        context = dataclasses.asdict(CONTEXTS[_role_of(verbalizer)](history, catalog, domain))
    return {
        "example_id": example_id,
        "verbalizer": verbalizer.name,
        "text": verbalization.text,
        "output": output,
        "context": context,
        "grammar": grammar,
        "valid": verbalization.valid,
        "chars": verbalization.chars,
        "tokens": verbalization.tokens,
        "template_chars": verbalization.template_chars,
        "template_tokens": verbalization.template_tokens,
        "compression": verbalization.compression,
        "meta": meta,
    }


def read_rows(path: Path, *, repair: bool = False) -> list[dict[str, Any]]:
    """Rows of a verbalization file. A last line without its newline that is not valid JSON
    (a crash mid-write) is dropped with a warning and, with ``repair``, cut from the file;
    any other bad line raises InputError naming file and line."""
    if not path.is_file():
        return []
    data = path.read_bytes()
    rows: list[dict[str, Any]] = []
    offset = 0
    lines = data.split(b"\n")
    for lineno, raw in enumerate(lines, 1):
        is_last = lineno == len(lines)
        if not raw.strip():
            offset += len(raw) + 1
            continue
        try:
            row = json.loads(raw)
            if not isinstance(row, dict) or "example_id" not in row:
                raise ValueError("expected a JSON object with an example_id")
        except (ValueError, UnicodeDecodeError) as exc:
            if is_last:  # no newline after it: the write was cut short
                warnings.warn(
                    f"{path}:{lineno}: dropping a partial last line ({len(raw)} bytes)",
                    stacklevel=2,
                )
                if repair:
                    with path.open("r+b") as fh:
                        fh.truncate(offset)
                        fh.flush()
                        os.fsync(fh.fileno())
                break
            raise InputError.at(f"unreadable row ({exc})", path, lineno) from None
        rows.append(row)
        offset += len(raw) + 1
    if repair and lines and lines[-1].strip() and rows and offset > len(data):
        # a complete JSON object that only lacks its newline: finish the line
        with path.open("ab") as fh:
            fh.write(b"\n")
            fh.flush()
            os.fsync(fh.fileno())
    return rows


def append_rows(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Append rows and make them durable before returning (append + flush + fsync)."""
    payload = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(payload)
        fh.flush()
        os.fsync(fh.fileno())


def verbalizer_identity(verbalizer: Verbalizer) -> dict[str, Any]:
    """Everything about a verbalizer that shapes its outputs, for the cache key: its name,
    its class's source (a code change is a new version), the weights of its LLM (a cheap
    fingerprint), its decoding settings and the tokenizer that counts its tokens."""
    import hashlib

    from toolkit.cache import model_fingerprint

    cls = type(verbalizer)
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        source = f"{cls.__module__}.{cls.__qualname__}"
    generator = getattr(verbalizer, "generator", None)
    model = getattr(generator, "model", None)
    params = getattr(verbalizer, "params", None)
    tokenizer = getattr(verbalizer, "tokenizer", None)
    return {
        "verbalizer": verbalizer.name,
        "code": hashlib.sha256(source.encode()).hexdigest()[:16],
        "options": {
            k: v for k, v in vars(verbalizer).items() if isinstance(v, str | int | float | bool)
        },
        "weights": None if model is None else model_fingerprint(model)[:16],
        "decoding": None if params is None else dataclasses.asdict(params),
        "tokenizer": tokenizer_identity(tokenizer),
    }


def tokenizer_identity(tokenizer: Any) -> str | None:
    """What a tokenizer counts and renders with, not where it was loaded from: a hash of its
    vocabulary and chat template (a copied or moved model folder keeps its cache entries);
    a counter without a vocabulary is named by its class."""
    import hashlib
    import json

    if tokenizer is None:
        return None
    get_vocab = getattr(tokenizer, "get_vocab", None)
    if get_vocab is None:
        return f"{type(tokenizer).__module__}.{type(tokenizer).__qualname__}"
    spec = {
        "vocab": sorted(get_vocab().items()),
        "chat_template": getattr(tokenizer, "chat_template", None),
    }
    return hashlib.sha256(json.dumps(spec, default=str).encode()).hexdigest()[:16]


def row_key(
    identity: dict[str, Any],
    verbalizer: Verbalizer,
    example_id: str,
    history: History,
    catalog: Catalog,
    window: int | None,
) -> str:
    """The content key of one verbalization: the verbalizer's identity, the example and the
    window shown, the grammar and the exact prompt (template text included)."""
    from toolkit.cache import content_key, text_hash

    prompt = grammar = None
    if isinstance(verbalizer, LLMVerbalizer):
        prompt = text_hash(verbalizer.prompt(history, catalog))
        constraint = verbalizer.constraint(history, catalog)
        grammar = None if constraint is None else constraint.key
    return content_key(
        example=example_id,
        window=window,
        history=[x.to_json() for x in history.interactions],
        grammar=grammar or grammar_of(verbalizer),
        prompt=prompt,
        **identity,
    )


def verbalize_examples(
    examples: Sequence[RerankExample],
    catalog: Catalog,
    verbalizer: Verbalizer,
    *,
    batch_size: int = 8,
    max_history: int | None = 20,
    out_path: str | Path | None = None,
    resume: bool = True,
    progress: bool = True,
    store: Any = None,
    cached: Sequence[dict[str, Any]] = (),
) -> list[dict[str, Any]]:
    """Verbalize the last ``max_history`` interactions of every example (the history view);
    return one row per example, in example order, each with its content ``key``.

    A row is reused only when its key matches: from ``store`` (a ``toolkit.cache.
    ContentStore``), from ``cached`` rows (e.g. a ``vtk verbalize`` file) or, with
    ``resume``, from ``out_path``. A row made by another model, prompt, window or decoding
    has another key and is recomputed, never reused. With ``out_path`` new rows are appended
    batch by batch (without ``resume`` the file is started afresh); with ``store`` each
    new row is also put there."""
    from toolkit.progress import Bar

    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    path = Path(out_path) if out_path is not None else None
    shown = [ex.shown(max_history) for ex in examples]
    identity = verbalizer_identity(verbalizer)
    keys = {
        ex.example_id: row_key(
            identity, verbalizer, ex.example_id, ex.history, catalog, max_history
        )
        for ex in shown
    }
    wanted = set(keys.values())
    found: dict[str, dict[str, Any]] = {r["key"]: r for r in cached if r.get("key") in wanted}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if resume:
            found.update(
                (r["key"], r) for r in read_rows(path, repair=True) if r.get("key") in wanted
            )
        else:
            read_rows(path)  # refuses (file, line) a file that is not a verbalization file
            path.write_bytes(b"")
    if store is not None:
        found.update(store.get_many(k for k in wanted if k not in found))
    todo = [ex for ex in shown if keys[ex.example_id] not in found]
    with Bar(len(todo), verbalizer.name, enabled=progress) as bar:
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            histories = [ex.history for ex in chunk]
            results = verbalizer.verbalize_batch(histories, catalog)
            rows = []
            for ex, v, h in zip(chunk, results, histories, strict=True):
                row = to_row(ex.example_id, verbalizer, v, h, catalog)
                # the weights' fingerprint tells trained rows of one verbalizer name apart
                row.update(key=keys[ex.example_id], window=max_history, weights=identity["weights"])
                rows.append(row)
            if path is not None:
                append_rows(path, rows)
            if store is not None:
                for row in rows:
                    store.put(row["key"], row)
            found.update((r["key"], r) for r in rows)
            bar.update(len(chunk))
    return [dict(found[keys[ex.example_id]], example_id=ex.example_id) for ex in shown]
