"""Shared fixtures: the public data folder, the real tokenizer, tiny random models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("VTK_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (or ``$VTK_SHARED_DATA``); skips when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"public data sets not found at {SHARED_DATA} (set VTK_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tokenizer():
    """The embedded model's real tokenizer (converted once into the vtk cache)."""
    from toolkit.models import load_tokenizer

    return load_tokenizer()


@pytest.fixture(scope="session")
def tiny_lm(tokenizer):
    """A 2-layer random Llama with the real vocabulary: fast, deterministic."""
    from toolkit.models import tiny_model

    return tiny_model(tokenizer)


@pytest.fixture
def no_folder_domains():
    """Domains loaded from folders (``VTK_DOMAINS_PATH``, a path) by one test are
    forgotten before and after it."""
    from actions.domains.folder import forget_folder_domains

    forget_folder_domains()
    yield
    forget_folder_domains()
