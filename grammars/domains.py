"""Grammars that come with a domain folder: ``<domain>/<stem>`` -> a file of its
``grammars/`` folder, loaded like any grammar file (``.json``, ``.lark``, ``.regex``).

The built-in domains' grammars are ordinary registered grammars (``clinical_summary``);
which grammar each role of a domain uses is ``actions.domains.Domain.grammar(role)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

FOLDER_GRAMMARS: dict[str, Path] = {}
"""Grammar name -> file, filled when a domain folder is loaded."""


def register_folder_grammars(grammars: Mapping[str, Path]) -> None:
    FOLDER_GRAMMARS.update(grammars)


def folder_grammar_names() -> list[str]:
    """Names of the domain folders' grammars (the folders on ``$VTK_DOMAINS_PATH`` loaded)."""
    from actions.domains.base import load_builtins

    load_builtins()
    return sorted(FOLDER_GRAMMARS)
