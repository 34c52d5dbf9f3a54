"""Find a grammar by name, entry point, dotted path or file.

``get_grammar`` tries, in order: a grammar file (``.json`` schema, ``.lark`` CFG, ``.regex``),
then a domain folder's grammar (``<domain>/<stem>``, ``grammars.domains``), then the
``GRAMMARS`` registry, which holds the built-ins and resolves entry points of the
group ``vtk.grammars`` and dotted paths (``pkg.mod:attr``, ``file.py:attr``). Whatever is
found becomes a ``Grammar``: a subclass is instantiated, a pydantic model becomes a
``PydanticGrammar``, a dict a ``SchemaGrammar``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grammars.base import GRAMMARS, Grammar, GrammarError

_BUILTINS = ("action_plan", "numbered_plan", "rewrite", "choice", "clinical")


def _file_loaders() -> dict[str, Callable[[Path], Grammar]]:
    from grammars.text import LarkGrammar, RegexGrammar
    from grammars.user import FileGrammar

    return {".json": FileGrammar, ".lark": LarkGrammar.from_file, ".regex": RegexGrammar.from_file}


def load_builtins() -> None:
    """Import the built-in grammars so that their registration has run."""
    for module in _BUILTINS:
        importlib.import_module(f"grammars.{module}")


def grammar_names() -> list[str]:
    """Registered grammars, then the domain folders' grammars (``<domain>/<stem>``)."""
    from grammars.domains import folder_grammar_names

    load_builtins()
    return GRAMMARS.names() + folder_grammar_names()


def as_grammar(obj: Any, name: str) -> Grammar:
    """Whatever a registry entry or dotted path gave, as a ``Grammar``."""
    from pydantic import BaseModel

    from grammars.user import PydanticGrammar, SchemaGrammar

    if isinstance(obj, Grammar):
        return obj
    if isinstance(obj, type) and issubclass(obj, Grammar):
        return obj()
    if isinstance(obj, type) and issubclass(obj, BaseModel):
        return PydanticGrammar(obj, name=name)
    if isinstance(obj, dict):
        return SchemaGrammar(obj, name=name)
    raise GrammarError(
        f"{name!r} is a {type(obj).__name__}, not a grammar: give a Grammar subclass or "
        "instance, a pydantic model, or a JSON Schema dict"
    )


def get_grammar(name_or_path: str | Grammar) -> Grammar:
    """The grammar called ``name_or_path`` (a ``Grammar`` passes through).

    >>> from grammars.base import GrammarContext
    >>> get_grammar("choice").constraint(GrammarContext(n_candidates=3)).spec
    '["A","B","C"]'
    """
    if isinstance(name_or_path, Grammar):
        return name_or_path
    loaders = _file_loaders()
    suffix = Path(name_or_path).suffix.lower()
    if suffix in loaders and ":" not in name_or_path:
        return loaders[suffix](Path(name_or_path))
    if "/" in name_or_path:
        from grammars.domains import FOLDER_GRAMMARS, folder_grammar_names

        if name_or_path in folder_grammar_names():
            path = FOLDER_GRAMMARS[name_or_path]
            grammar = loaders[path.suffix](path)
            grammar.name = name_or_path
            return grammar
    load_builtins()
    return as_grammar(GRAMMARS.get(name_or_path), name_or_path)
