"""Stage 1: train the verbalizer against a fixed oracle reasoner.

For each example the policy (any ``LLMVerbalizer``: its ``prompt`` and ``constraint``)
samples G verbalizations under the grammar; ``decode`` turns each into a
``Verbalization``; the oracle reads all of a batch's texts in one ``answer_batch`` call;
the reward is ``alpha * correct + (1 - alpha) * r_len`` (``correct``: accuracy, or the
ranking ablation's reciprocal rank; ``r_len``: the plateau of the compression ratio).
An output that does not decode gets ``rewards.invalid``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from toolkit.episodes import DEFAULT_WINDOW
from toolkit.errors import ConfigError, InputError
from toolkit.filtering import drop_counts
from toolkit.reasoners.base import Reasoner, ReasonerInput
from toolkit.records import Catalog
from toolkit.tasks import RerankExample, TaskSet
from toolkit.verbalizers.base import LLMVerbalizer
from trainers.config import OracleSettings, PolicySettings, RewardSettings, VerbalizerTrainConfig
from trainers.credit import LineCredit
from trainers.rewards import Combined, RewardFn, combined, get_reward, length_plateau
from trainers.rollout import GeneratorFactory, PromptTable
from trainers.run import StagePlan, TrainResult, train_stage


def policy_verbalizer(settings: PolicySettings, tokenizer: Any, domain: str) -> LLMVerbalizer:
    """The verbalizer whose prompt, constraint and decode the policy is trained under."""
    from toolkit.verbalizers import get_verbalizer

    cls = get_verbalizer(settings.name)
    if not (isinstance(cls, type) and issubclass(cls, LLMVerbalizer)):
        raise ConfigError(
            f"verbalizer.name: {settings.name!r} is not an LLM verbalizer (it has no policy "
            "to train); use one with prompt/constraint/decode, e.g. 'actions'"
        )
    return cls(None, tokenizer=tokenizer, domain=settings.domain or domain, **settings.options)


def build_oracle(settings: OracleSettings, catalog: Catalog) -> Reasoner:
    from toolkit.reasoners import get_reasoner

    return get_reasoner(settings.name)(catalog, **settings.options)


def stage1_reward(settings: RewardSettings) -> RewardFn | Combined:
    """The configured reward: the correctness reward alone, or combined with the plateau."""
    correct = get_reward(settings.kind)
    if not settings.length:
        return correct
    p = settings.plateau
    length = functools.partial(
        length_plateau, low=p.low, high=p.high, slope_low=p.slope_low, slope_high=p.slope_high
    )
    return combined(correct, length, settings.alpha)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


class VerbalizerReward:
    """TRL reward function: decode, ask the oracle (batched), score, log the parts."""

    __name__ = "verbalizer"

    def __init__(
        self,
        examples: dict[str, RerankExample],
        catalog: Catalog,
        policy: LLMVerbalizer,
        oracle: Reasoner,
        reward: RewardFn | Combined,
        *,
        invalid: float = 0.0,
        batch_size: int = 64,
    ):
        self.examples = examples
        self.catalog = catalog
        self.policy = policy
        self.oracle = oracle
        self.reward = reward
        self.invalid = invalid
        self.batch_size = batch_size

    def columns(self, completions: Sequence[str], example_ids: Sequence[str]) -> dict[str, list]:
        """Per completion: the oracle's pick and scores, the target index, the compression
        ratio and whether the output decoded."""
        rows = [self.examples[i] for i in example_ids]
        verbalizations = [
            self.policy.decode(text, ex.history, self.catalog)
            for text, ex in zip(completions, rows, strict=True)
        ]
        inputs = [
            ReasonerInput(v.text, ex.candidates) for v, ex in zip(verbalizations, rows, strict=True)
        ]
        answers = []
        for start in range(0, len(inputs), self.batch_size):
            answers += self.oracle.answer_batch(inputs[start : start + self.batch_size])
        drops = drop_counts(
            [v.meta for v in verbalizations], [ex.history for ex in rows], self.catalog
        )
        return {
            "pick": [a.pick for a in answers],
            "scores": [a.scores for a in answers],
            "target": [ex.target_index for ex in rows],
            "compression": [v.compression for v in verbalizations],
            "valid": [v.valid for v in verbalizations],
            "drops": drops,
        }

    def __call__(
        self, completions: Sequence[Any], example_id: Sequence[str], **kwargs: Any
    ) -> list[float]:
        texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
        cols = self.columns(texts, example_id)
        drops = cols.pop("drops")
        if isinstance(self.reward, Combined):
            parts = self.reward.parts(texts, **cols)
            total = self.reward.total(parts)
        else:
            total = list(self.reward(texts, **cols))
            parts = {"correct": total}
        total = [t if ok else self.invalid for t, ok in zip(total, cols["valid"], strict=True)]
        log = kwargs.get("log_metric")
        if log is not None:
            hits = [
                p is not None and p == t for p, t in zip(cols["pick"], cols["target"], strict=True)
            ]
            log("accuracy", _mean([float(h) for h in hits]))
            for name, values in parts.items():
                log(f"rewards/{name}", _mean(values))
            ratios = [c for c in cols["compression"] if c is not None]
            if ratios:
                log("verbalizer/compression", _mean(ratios))
            log("verbalizer/valid", _mean([float(v) for v in cols["valid"]]))
            # sources that flag noise (the synthetic generator) show the filtering per step
            if drops.noise_rate is not None:
                log("verbalizer/noise_dropped", drops.noise_rate)
            if drops.signal_rate is not None:
                log("verbalizer/signal_dropped", drops.signal_rate)
        return total


def verbalizer_rows(
    examples: Sequence[RerankExample], catalog: Catalog, policy: LLMVerbalizer
) -> tuple[list[dict[str, Any]], PromptTable]:
    """One training row per example (``prompt``, ``example_id``) and the prompt table."""
    rows, table = [], PromptTable()
    for ex in examples:
        prompt = policy.prompt(ex.history, catalog)
        table.add(prompt, policy.constraint(ex.history, catalog), where=ex.example_id)
        rows.append({"prompt": prompt, "example_id": ex.example_id})
    return rows, table


def select(
    tasks: TaskSet, split: str, limit: int | None, window: int | None = DEFAULT_WINDOW
) -> list[RerankExample]:
    """The training examples, each cut to the shared history view (``window``
    interactions, as ``vtk eval`` shows them), so training and evaluation see the same."""
    examples = tasks.split(split)
    examples = examples if limit is None else examples[:limit]
    if not examples:
        raise InputError.at(f"split {split!r} has no examples", tasks.path, field="data.split")
    return [ex.shown(window) for ex in examples]


def plan_verbalizer(
    config: VerbalizerTrainConfig,
    tokenizer: Any,
    *,
    tasks: TaskSet | None = None,
    policy: LLMVerbalizer | None = None,
    oracle: Reasoner | None = None,
) -> StagePlan:
    """The Stage 1 plan; ``tasks``, ``policy`` and ``oracle`` default to the config's."""
    tasks = tasks or TaskSet.load(config.data.tasks)
    examples = select(tasks, config.data.split, config.data.limit, config.data.max_history)
    policy = policy or policy_verbalizer(config.verbalizer, tokenizer, tasks.domain)
    oracle = oracle or build_oracle(config.oracle, tasks.catalog)
    rows, table = verbalizer_rows(examples, tasks.catalog, policy)
    reward = VerbalizerReward(
        {ex.example_id: ex for ex in examples},
        tasks.catalog,
        policy,
        oracle,
        stage1_reward(config.rewards),
        invalid=config.rewards.invalid,
        batch_size=config.oracle.batch_size,
    )
    credit = line_credit(config, policy, reward)
    meta = {
        "verbalizer": policy.name,
        "domain": policy.domain,
        "verbalizer_options": config.verbalizer.options,
        "oracle": config.oracle.name,
        "tasks": str(config.data.tasks),
    }
    return StagePlan(
        "verbalizer",
        config,
        rows,
        table,
        reward,
        meta,
        credit=credit,
        credit_weight=config.rewards.line_credit,
    )


def line_credit(
    config: VerbalizerTrainConfig, policy: LLMVerbalizer, reward: VerbalizerReward
) -> LineCredit | None:
    """The per-line credit of ``rewards.line_credit`` (None when it is 0); refused for a
    policy whose output is not a plan of one code per line."""
    if config.rewards.line_credit == 0:
        return None
    spans = getattr(policy, "code_spans", None)
    if spans is None:
        raise ConfigError(
            f"rewards.line_credit: verbalizer {policy.name!r} does not write one code per "
            "line; per-line credit needs a plan verbalizer (actions, numbered_actions)"
        )
    return LineCredit(lambda texts, ids: reward(texts, example_id=ids), spans, policy.codes())


def train_verbalizer(
    config: VerbalizerTrainConfig,
    *,
    tasks: TaskSet | None = None,
    policy: LLMVerbalizer | None = None,
    oracle: Reasoner | None = None,
    model: Any = None,
    tokenizer: Any = None,
    generator_factory: GeneratorFactory | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Run Stage 1; the final adapter lands in ``config.output_dir / "final"``."""
    return train_stage(
        config,
        lambda tok: plan_verbalizer(config, tok, tasks=tasks, policy=policy, oracle=oracle),
        model=model,
        tokenizer=tokenizer,
        resume=resume,
        overwrite=overwrite,
        progress=progress,
        generator_factory=generator_factory,
        callbacks=callbacks,
    )
