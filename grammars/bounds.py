"""The longest output a schema allows, in bytes: the token budget that always closes.

Every token of a byte-level BPE vocabulary is at least one byte, so an output of at most
B bytes takes at most B tokens however the sampler splits it (a constrained sampler
often spells a title character by character that the tokenizer would write in three
tokens). ``max_tokens = max_bytes + 1`` (the end-of-sequence token) therefore guarantees
that a grammar-valid output closes inside the budget; anything less is a bet on
tokenization. An unbounded schema (a string without ``maxLength``, an array without
``maxItems``, an object open to extra properties, free whitespace) gets no bound and a
reason per place, which ``vtk grammars check`` prints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from grammars.base import ValidationIssue
from grammars.validation import json_path

_ESCAPE_BYTES = 6
"""Bytes one character may take inside a JSON string (``\\u001f``)."""


@dataclass
class Bound:
    """``bytes`` is the longest compact output (None when unbounded); ``reasons`` says
    where it is unbounded."""

    bytes: int | None
    reasons: list[ValidationIssue] = field(default_factory=list)

    def max_tokens(self, default: int) -> int:
        """The token budget: the byte bound plus the end-of-sequence token."""
        return default if self.bytes is None else self.bytes + 1


def _text(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def single_byte_class(pattern: str) -> bool:
    """True when ``pattern`` is one character class repeated (``^[a-z ]*$``) whose
    characters are printable ASCII other than ``"`` and ``\\``: each character of a
    matching string is then one byte in JSON, with no escapes.

    >>> single_byte_class(r"^[ !#-\\[\\]-~]*$"), single_byte_class(r"^[^x]*$")
    (True, False)
    """
    body = pattern.removeprefix("^").removesuffix("$")
    for suffix in ("*", "+"):
        body = body.removesuffix(suffix)
    if not (body.startswith("[") and body.endswith("]")) or body.startswith("[^"):
        return False
    tokens: list[tuple[str, bool]] = []  # (character, was escaped)
    inner, i = body[1:-1], 0
    while i < len(inner):
        if inner[i] == "\\":
            if i + 1 >= len(inner) or inner[i + 1].isalnum():
                return False  # \d, \w, \u...: not one literal character
            tokens.append((inner[i + 1], True))
            i += 2
        else:
            tokens.append((inner[i], False))
            i += 1
    chars: list[str] = []
    j = 0
    while j < len(tokens):
        if j + 2 < len(tokens) and tokens[j + 1] == ("-", False):
            low, high = tokens[j][0], tokens[j + 2][0]
            chars += [chr(c) for c in range(ord(low), ord(high) + 1)]
            j += 3
        else:
            chars.append(tokens[j][0])
            j += 1
    return all(" " <= c <= "~" and c not in '"\\' for c in chars)


def _inside(path: str, parent: str) -> bool:
    return path == parent or path.startswith((parent + ".", parent + "["))


class _Walker:
    def __init__(self, root: dict[str, Any], whitespace: int):
        self.root = root
        self.ws = whitespace
        self.reasons: list[ValidationIssue] = []
        self.stack: list[str] = []

    def unbounded(self, path: list[str | int], why: str) -> None:
        self.reasons.append(ValidationIssue(json_path(path), f"unbounded: {why}"))

    def resolve(self, ref: str, path: list[str | int]) -> Any:
        node: Any = self.root
        if not ref.startswith("#"):
            self.unbounded(path, f"external $ref {ref!r}")
            return None
        for part in ref.lstrip("#/").split("/") if ref != "#" else []:
            node = node.get(part.replace("~1", "/").replace("~0", "~")) if node else None
        return node

    def size(self, schema: Any, path: list[str | int]) -> int | None:
        if schema is True or schema == {}:
            self.unbounded(path, "any value is allowed")
            return None
        if not isinstance(schema, dict):
            return 0
        if "$ref" in schema:
            ref = schema["$ref"]
            if ref in self.stack:
                self.unbounded(path, f"recursive $ref {ref!r}")
                return None
            self.stack.append(ref)
            try:
                return self.size(self.resolve(ref, path), path)
            finally:
                self.stack.pop()
        if "const" in schema:
            return _text(schema["const"])
        if "enum" in schema:
            return max((_text(v) for v in schema["enum"]), default=0)
        own = self.own(schema, path)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                branches = [self.size(s, [*path, key, i]) for i, s in enumerate(schema[key])]
                alt = None if None in branches else max(branches, default=0)
                own = alt if own is None else own if alt is None else min(own, alt)
        for i, sub in enumerate(schema.get("allOf", [])):
            part = self.size(sub, [*path, "allOf", i])
            if part is not None:
                own = part if own is None else min(own, part)
        if own is not None:  # bounded after all: drop what its alternatives reported
            here = json_path(path)
            self.reasons = [r for r in self.reasons if not _inside(r.path, here)]
        return own

    def own(self, schema: dict[str, Any], path: list[str | int]) -> int | None:
        types = schema.get("type")
        if types is None:
            if "properties" in schema:
                types = "object"
            elif "items" in schema or "prefixItems" in schema:
                types = "array"
            elif any(k in schema for k in ("anyOf", "oneOf", "allOf")):
                return None
            else:
                self.unbounded(path, "no type, enum or const")
                return None
        kinds = [types] if isinstance(types, str) else types
        sizes = [self.typed(kind, schema, path) for kind in kinds]
        return None if None in sizes or not sizes else max(sizes)

    def typed(self, kind: str, schema: dict[str, Any], path: list[str | int]) -> int | None:
        if kind == "null":
            return 4
        if kind == "boolean":
            return 5
        if kind == "integer":
            low = schema.get("minimum", schema.get("exclusiveMinimum"))
            high = schema.get("maximum", schema.get("exclusiveMaximum"))
            if low is None or high is None:
                self.unbounded(path, "integer without minimum and maximum")
                return None
            zero = 2 if low <= 0 <= high else 0  # "-0" is a valid integer
            return max(len(str(int(low))), len(str(int(high))), zero)
        if kind == "number":
            self.unbounded(path, "number (a fraction has no length limit); use integer")
            return None
        if kind == "string":
            if "maxLength" not in schema:
                self.unbounded(path, "string without maxLength (or enum)")
                return None
            per_char = 1 if single_byte_class(schema.get("pattern", "")) else _ESCAPE_BYTES
            return 2 + schema["maxLength"] * per_char
        if kind == "array":
            return self.array(schema, path)
        if kind == "object":
            return self.object(schema, path)
        self.unbounded(path, f"unknown type {kind!r}")
        return None

    def array(self, schema: dict[str, Any], path: list[str | int]) -> int | None:
        prefix = schema.get("prefixItems", [])
        items = schema.get("items", True)
        limit = schema.get("maxItems")
        if items is False:
            count = len(prefix) if limit is None else min(len(prefix), limit)
        elif limit is None:
            self.unbounded(path, "array without maxItems")
            self.size(items, [*path, "items"])
            return None
        else:
            count = limit
        sizes = [self.size(s, [*path, "prefixItems", i]) for i, s in enumerate(prefix[:count])]
        if count > len(prefix):
            sizes += [self.size(items, [*path, "items"])] * (count - len(prefix))
        if None in sizes:
            return None
        return 2 + sum(sizes) + max(count - 1, 0) + self.ws * max(2 * count, 1)

    def object(self, schema: dict[str, Any], path: list[str | int]) -> int | None:
        props = schema.get("properties", {})
        sizes = [self.size(s, [*path, "properties", k]) for k, s in props.items()]
        if schema.get("additionalProperties", True) is not False or schema.get("patternProperties"):
            self.unbounded(path, "object open to other properties (additionalProperties)")
            return None
        if None in sizes:
            return None
        keys = sum(_text(k) + 1 for k in props)
        n = len(props)
        return 2 + keys + sum(sizes) + max(n - 1, 0) + self.ws * max(4 * n, 1)


def max_bytes(schema: dict[str, Any], whitespace: int | None = 0) -> Bound:
    """The longest output valid under ``schema``, compact JSON plus at most ``whitespace``
    bytes between tokens (None: free whitespace, unbounded).

    >>> max_bytes({"type": "array", "items": {"enum": ["keep", "drop"]}, "maxItems": 2}).bytes
    15
    >>> max_bytes({"type": "string"}).reasons[0].message
    'unbounded: string without maxLength (or enum)'
    """
    if whitespace is None:
        return Bound(None, [ValidationIssue("$", "unbounded: the engine allows free whitespace")])
    walker = _Walker(schema, whitespace)
    size = walker.size(schema, [])
    return Bound(size, [] if size is not None else walker.reasons)
