"""The ``openai`` reasoner: an LLM behind an OpenAI-compatible server (a hosted model,
``vllm serve``) reads the context and answers one candidate label: the paper's
closed-model oracle for Stage 1, or a judge for ``vtk eval``.

It asks what the local ``llm`` reasoner asks (same prompt template, same seeded candidate
shuffle, scores mapped back to the example's order), under the ``choice`` grammar where the
server takes one. The answer is checked on return: anything but one of the shown labels
is an invalid answer (``pick=None``, all scores equal), never an error. Label scores are
the label log-probs among the server's ``top_logprobs`` of the answer token, renormalised
over the labels; a label the server did not list scores ``MISSING``. Without log-probs the
pick scores 0 and the others ``-1``.

Configured from YAML (``oracle: {name: openai, options: {model: ..., base_url: ...}}``);
the API key is read from the variable named by ``api_key_env``, never from the config.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from grammars.base import Constraint
from toolkit.backends.base import Completion, SamplingParams
from toolkit.errors import ConfigError
from toolkit.reasoners.base import REASONERS, Answer, Reasoner, ReasonerInput
from toolkit.reasoners.llm import LLMReasoner
from toolkit.records import Catalog
from toolkit.tasks import LABELS

MISSING = -1e4
"""The score of a label absent from the server's top log-probs (far below any listed)."""


def label_scores(top: dict[str, float], labels: Sequence[str]) -> list[float] | None:
    """Log-softmax over the labels found in ``top`` (token -> log-prob); None if none is.

    >>> [round(s, 3) for s in label_scores({"A": -0.1, " B": -2.4, "x": -3.0}, "ABC")]
    [-0.096, -2.396, -10000.0]
    """
    found: dict[str, float] = {}
    for token, lp in top.items():
        label = token.strip()
        if label in labels and lp > found.get(label, -math.inf):
            found[label] = lp
    if not found:
        return None
    norm = math.log(sum(math.exp(v) for v in found.values()))
    return [found[label] - norm if label in found else MISSING for label in labels]


@REASONERS.register("openai")
class OpenAIReasoner(LLMReasoner):
    """``LLMReasoner``'s question, answered by a server (no local model)."""

    name = "openai"

    def __init__(
        self,
        catalog: Catalog,
        model: str | None = None,
        *,
        model_path: str | None = None,
        base_url: str = "http://127.0.0.1:8000/v1",
        api_key_env: str = "OPENAI_API_KEY",
        structured: str = "vllm",
        top_logprobs: int = 20,
        concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 4,
        domain: str = "streaming",
        prompt_path: str | None = None,
        shuffle: bool = True,
        seed: int = 0,
        generator: Any = None,
    ):
        Reasoner.__init__(self, catalog)
        model = model or model_path
        if generator is None and not model:
            raise ConfigError("the openai reasoner needs options.model: the served model's name")
        from prompts import load_prompt
        from toolkit.backends.openai import OpenAIGenerator
        from toolkit.reasoners.positions import PositionStats

        self.generator = generator or OpenAIGenerator(
            str(model),
            base_url=base_url,
            api_key_env=api_key_env,
            structured=structured,  # type: ignore[arg-type]
            top_logprobs=top_logprobs,
            token_ids=False,
            concurrency=concurrency,
            timeout=timeout,
            max_retries=max_retries,
        )
        self.template = load_prompt("reasoner", domain=domain, path=prompt_path)
        self.shuffle = shuffle
        self.seed = seed
        self.positions = PositionStats()
        self.invalid = 0

    def chat(self, inp: ReasonerInput) -> str:
        return self.prompt(inp)  # the server applies its own chat template

    def answer_batch(self, inputs: Sequence[ReasonerInput]) -> list[Answer]:
        from toolkit.reasoners.positions import present, unshuffle_scores

        orders = [self._order(inp) for inp in inputs]
        shown = [present(inp, order) for inp, order in zip(inputs, orders, strict=True)]
        constraints = [
            Constraint("choice", json.dumps(list(LABELS[: len(inp.candidates)])), max_tokens=8)
            for inp in inputs
        ]
        params = SamplingParams(temperature=0.0, max_new_tokens=1 if self._one_token else 16)
        results = self.generator.generate(
            [self.prompt(s) for s in shown], constraints, n=1, params=params
        )
        answers = []
        for inp, order, (completion,) in zip(inputs, orders, results, strict=True):
            answers.append(self._answer(inp, order, completion, unshuffle_scores))
        return answers

    @property
    def _one_token(self) -> bool:
        return getattr(self.generator, "structured", "vllm") != "response_format"

    def _answer(
        self, inp: ReasonerInput, order: list[int], completion: Completion, unshuffle: Any
    ) -> Answer:
        labels = list(LABELS[: len(inp.candidates)])
        raw = completion.text.strip()
        if raw not in labels:
            self.invalid += 1
            error = getattr(completion, "error", "") or f"answer {raw!r} is not a label"
            return Answer(None, [0.0] * len(labels), raw=raw, meta={"error": error})
        shown_pick = labels.index(raw)
        top = getattr(completion, "top_logprobs", None) or [{}]
        scores = label_scores(top[0], labels)
        if scores is None:
            scores = [0.0 if i == shown_pick else -1.0 for i in range(len(labels))]
        self.positions.add(shown_pick, len(labels))
        original = unshuffle(scores, order)
        return Answer(
            pick=order[shown_pick],
            scores=original,
            raw=raw,
            meta={"shown_position": shown_pick, "order": order},
        )

    def stats(self) -> dict[str, Any]:
        return {**self.positions.summary(), "invalid": self.invalid}
