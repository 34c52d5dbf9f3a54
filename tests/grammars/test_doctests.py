"""The examples in the grammars' docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "grammars.base",
    "grammars.bounds",
    "grammars.choice",
    "grammars.engines",
    "grammars.loader",
    "grammars.action_plan",
    "grammars.rewrite",
    "grammars.schema",
    "grammars.validation",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
