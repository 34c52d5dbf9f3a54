"""Compile a ``Constraint`` into an Outlines logits processor once; hand out fresh state.

Outlines' processors are stateful: the first call creates one guide per batch row and
every later call advances them by the last sampled token. A processor reused without a
reset silently decoded ``''`` (outlines_core) or raised (xgrammar). So the compiled part
(outlines_core's ``Index``, xgrammar's ``CompiledGrammar``, llguidance's grammar text)
is cached by ``(tokenizer, constraint.key)`` in a never-run prototype, and every
``get_processor`` call returns a shallow copy of it, reset: new guides, shared index.

JSON whitespace is compact on every engine (no decode step is spent on a space and the
grammar's byte bound holds): ``whitespace_pattern=""`` for outlines_core,
``any_whitespace=False`` for xgrammar (which Outlines does not expose) and
``"x-guidance": {"whitespace_flexible": false}`` for llguidance unless the schema says
otherwise. A ``choice`` constraint (a JSON list of labels) becomes a regex alternation.

``GrammarMask`` applies per-row constraints to one batch: rows that share a constraint
share one processor (its guides are per row), rows without one are left alone.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from grammars.base import Constraint, GrammarError
from toolkit.registry import Registry

if TYPE_CHECKING:
    import torch

Processor = Any
"""An Outlines logits processor: ``(input_ids[B, L], logits[B, V]) -> logits[B, V]``."""
Compiler = Callable[[Any, Constraint], Processor]
"""``(outlines backend, constraint) -> prototype processor`` for one engine."""

CACHE_SIZE = 256
COMPILERS: Registry[Compiler] = Registry("constraint engine", group="vtk.constraint_engines")
"""Engine name -> how to compile a constraint with it; add one to support a new engine."""

_lock = threading.Lock()
_prototypes: OrderedDict[tuple[str, str], Processor] = OrderedDict()
_backends: dict[tuple[str, str], Any] = {}
_fingerprints: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def choice_regex(labels: Sequence[str]) -> str:
    """The regex alternation of ``labels`` (longest first, so no label shadows another).

    >>> choice_regex(["A", "B", "AB"])
    '(AB|A|B)'
    """
    ordered = sorted(labels, key=lambda s: (-len(s), s))
    return "(" + "|".join(re.escape(label) for label in ordered) + ")"


def choice_labels(constraint: Constraint) -> list[str]:
    """The labels of a ``choice`` constraint; ``GrammarError`` if ``spec`` is not a JSON
    list of non-empty strings."""
    try:
        labels = json.loads(constraint.spec)
    except json.JSONDecodeError as exc:
        raise GrammarError(f"a choice spec must be a JSON list of labels: {exc}") from None
    if not (isinstance(labels, list) and labels and all(isinstance(x, str) and x for x in labels)):
        raise GrammarError(f"a choice spec must be a non-empty JSON list of labels, got {labels!r}")
    return labels


def compact_schema(spec: str, engine: str) -> str:
    """The schema text as ``engine`` should get it: llguidance reads its whitespace
    setting from the schema, so compact is added unless the schema chooses."""
    if engine != "llguidance":
        return spec
    schema = json.loads(spec)
    if isinstance(schema, dict) and "x-guidance" not in schema:
        schema["x-guidance"] = {"whitespace_flexible": False}
        return json.dumps(schema)
    return spec


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A hash of the vocabulary and end token: equal tokenizers loaded twice share compiles."""
    with contextlib.suppress(KeyError, TypeError):
        return _fingerprints[tokenizer]
    vocab = sorted(tokenizer.get_vocab().items())
    text = json.dumps([type(tokenizer).__name__, tokenizer.eos_token_id, vocab])
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    with contextlib.suppress(TypeError):  # not weak-referenceable: recompute next time
        _fingerprints[tokenizer] = digest
    return digest


def _outlines_model(tokenizer: Any) -> Any:
    """A tokenizer-only Outlines ``Transformers`` model: the backends read only its
    tokenizer. Outlines switches the tokenizer to left padding; that is undone."""
    from outlines.models.transformers import Transformers

    side = tokenizer.padding_side
    try:
        return Transformers(None, tokenizer)  # type: ignore[arg-type]
    finally:
        tokenizer.padding_side = side


def _backend(engine: str, tokenizer: Any, fingerprint: str) -> Any:
    """Outlines' backend for ``engine`` (it holds the engine's view of the vocabulary)."""
    key = (fingerprint, engine)
    if key not in _backends:
        from outlines import backends

        classes = {
            "outlines_core": backends.OutlinesCoreBackend,
            "xgrammar": backends.XGrammarBackend,
            "llguidance": backends.LLGuidanceBackend,
        }
        if engine not in classes:
            raise GrammarError(f"no Outlines backend named {engine!r}; known: {', '.join(classes)}")
        _backends[key] = classes[engine](_outlines_model(tokenizer))
    return _backends[key]


@COMPILERS.register("outlines_core")
def _compile_outlines_core(backend: Any, constraint: Constraint) -> Processor:
    if constraint.kind == "json_schema":
        return backend.get_json_schema_logits_processor(constraint.spec, whitespace_pattern="")
    if constraint.kind == "regex":
        return backend.get_regex_logits_processor(constraint.spec)
    if constraint.kind == "choice":
        return backend.get_regex_logits_processor(choice_regex(choice_labels(constraint)))
    raise GrammarError("outlines_core compiles no CFG; use engine='llguidance' for Lark grammars")


@COMPILERS.register("xgrammar")
def _compile_xgrammar(backend: Any, constraint: Constraint) -> Processor:
    from outlines.backends.xgrammar import XGrammarLogitsProcessor

    compiler = backend.grammar_compiler
    if constraint.kind == "json_schema":
        compiled = compiler.compile_json_schema(
            constraint.spec, any_whitespace=False, separators=(",", ":")
        )
    elif constraint.kind == "regex":
        compiled = compiler.compile_regex(constraint.spec)
    elif constraint.kind == "choice":
        compiled = compiler.compile_regex(choice_regex(choice_labels(constraint)))
    else:
        compiled = compiler.compile_grammar(constraint.spec)
    return XGrammarLogitsProcessor(compiled, backend.tensor_library_name)


@COMPILERS.register("llguidance")
def _compile_llguidance(backend: Any, constraint: Constraint) -> Processor:
    if constraint.kind == "json_schema":
        spec = compact_schema(constraint.spec, "llguidance")
        return backend.get_json_schema_logits_processor(spec)
    if constraint.kind == "regex":
        return backend.get_regex_logits_processor(constraint.spec)
    if constraint.kind == "choice":
        return backend.get_regex_logits_processor(choice_regex(choice_labels(constraint)))
    return backend.get_cfg_logits_processor(constraint.spec)


def compile_constraint(constraint: Constraint, tokenizer: Any) -> Processor:
    """The cached, never-run prototype processor of ``constraint`` (compiled on a miss)."""
    fingerprint = tokenizer_fingerprint(tokenizer)
    key = (fingerprint, constraint.key)
    with _lock:
        proto = _prototypes.get(key)
        if proto is not None:
            _prototypes.move_to_end(key)
            return proto
        compiler = COMPILERS.get(constraint.engine)
        proto = compiler(_backend(constraint.engine, tokenizer, fingerprint), constraint)
        _prototypes[key] = proto
        while len(_prototypes) > CACHE_SIZE:
            _prototypes.popitem(last=False)
        return proto


def get_processor(constraint: Constraint, tokenizer: Any) -> Processor:
    """A logits processor for ``constraint`` with fresh state (its own guides), sharing
    the compiled index with every other processor of the same constraint and tokenizer."""
    fresh = copy.copy(compile_constraint(constraint, tokenizer))
    fresh.reset()
    return fresh


def is_cached(constraint: Constraint, tokenizer: Any) -> bool:
    return (tokenizer_fingerprint(tokenizer), constraint.key) in _prototypes


def clear_cache(*, backends: bool = False) -> None:
    """Forget compiled constraints (and, with ``backends``, the engines' vocabularies)."""
    with _lock:
        _prototypes.clear()
        if backends:
            _backends.clear()


class GrammarMask:
    """One logits processor for a batch whose rows carry different constraints.

    ``row_constraints[i]`` is row ``i``'s constraint (None: unconstrained). Rows with
    the same constraint share one fresh processor, applied to their rows only; columns
    past the tokenizer's vocabulary (a model may have more logits than tokens) are never
    allowed on a constrained row. Masks in place and returns ``scores``.
    """

    def __init__(self, row_constraints: Sequence[Constraint | None], tokenizer: Any):
        import torch

        self.width = len(tokenizer)
        groups: dict[str, list[int]] = {}
        by_key: dict[str, Constraint] = {}
        for row, constraint in enumerate(row_constraints):
            if constraint is not None:
                groups.setdefault(constraint.key, []).append(row)
                by_key[constraint.key] = constraint
        self.groups: list[tuple[Processor, slice | torch.Tensor]] = []
        for key, rows in groups.items():
            contiguous = rows == list(range(rows[0], rows[-1] + 1))
            index = slice(rows[0], rows[-1] + 1) if contiguous else torch.tensor(rows)
            self.groups.append((get_processor(by_key[key], tokenizer), index))

    def __bool__(self) -> bool:
        return bool(self.groups)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        wide = scores.size(-1) > self.width
        for processor, index in self.groups:
            if not isinstance(index, slice):
                index = index.to(scores.device)
            if wide:  # engines size their masks by the tokenizer (xgrammar insists)
                part = processor(input_ids[index], scores[index, : self.width].contiguous())
                scores[index, : self.width] = part
                scores[index, self.width :] = float("-inf")
            else:
                scores[index] = processor(input_ids[index], scores[index])
        return scores
