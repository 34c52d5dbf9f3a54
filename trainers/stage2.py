"""Stage 2: train the reasoner on a frozen verbalizer's text.

Each example is verbalized once, up front (``template`` gives the raw-log ablation; an LLM
verbalizer, e.g. a Stage 1 result, runs greedily through the transformers backend). The
reasoner policy then samples G answers per example under the ``choice`` grammar (one
label token ``A``..``J`` per candidate, so its masked log-prob is an exact log-softmax over
the labels) and earns +1 for the target, -1 otherwise.

The prompt is built by ``reasoner_prompt``, the same template and candidate order the LLM
reasoner (``toolkit.reasoners.llm``) shows at evaluation, so a trained reasoner is
evaluated on the prompts it was trained on. Swap that one function to change prompts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from toolkit.episodes import DEFAULT_WINDOW
from toolkit.records import Catalog
from toolkit.tasks import LABELS, RerankExample, TaskSet
from trainers.config import FrozenVerbalizerSettings, ReasonerTrainConfig
from trainers.rewards import RewardFn, get_reward
from trainers.rollout import GeneratorFactory, PromptTable
from trainers.run import StagePlan, TrainResult, train_stage
from trainers.stage1 import select


def reasoner_prompt(
    context: str, candidates: Sequence[str], catalog: Catalog, template: Any
) -> str:
    """The user message: the context, then the candidates labelled ``A.``.. in the order
    given (what ``LLMReasoner.prompt`` renders)."""
    from toolkit.reasoners.llm import candidate_meta

    shown = []
    for i, cid in enumerate(candidates):
        item = catalog.get(cid)
        title = item.display_title if item is not None else cid
        shown.append({"label": LABELS[i], "title": title, "meta": candidate_meta(item)})
    return template.render(context=context, candidates=shown)


def shown_order(example_id: str, candidates: Sequence[str], shuffle: bool, seed: int) -> list[int]:
    """Position i shows candidate ``order[i]``: the episode's order, a function of (seed,
    example id) only, so the reasoner trains on the order it is evaluated with."""
    from toolkit.episodes import candidate_order

    if not shuffle:
        return list(range(len(candidates)))
    return list(candidate_order(len(candidates), seed, example_id))


def frozen_contexts(
    examples: Sequence[RerankExample],
    catalog: Catalog,
    settings: FrozenVerbalizerSettings,
    domain: str,
    tokenizer: Any = None,
    *,
    window: int | None = DEFAULT_WINDOW,
) -> list[str]:
    """Every example's context, verbalized once by the frozen verbalizer through the
    evaluation pipeline (greedy, the shared history view ``window``; the reasoner's
    ``tokenizer`` counts tokens for the non-LLM verbalizers)."""
    from toolkit.episodes import build_episodes
    from toolkit.pipeline import verbalize
    from toolkit.verbalize import build_verbalizer

    verbalizer = build_verbalizer(
        settings.name,
        model=settings.model,
        domain=settings.domain or domain,
        batch_size=settings.batch_size,
        max_new_tokens=settings.max_new_tokens,
        options=settings.options,
        tokenizer=tokenizer,
    )
    episodes = build_episodes(examples, window=window)
    rows = verbalize(episodes, catalog, verbalizer, batch_size=settings.batch_size)
    return [row["text"] for row in rows]


@dataclass(frozen=True)
class Question:
    """One training prompt: the example and the candidate order it shows."""

    example: RerankExample
    order: tuple[int, ...]


class ReasonerReward:
    """TRL reward function: parse the label, map it back to a candidate, score it."""

    __name__ = "reasoner"

    def __init__(self, questions: dict[str, Question], reward: RewardFn):
        self.questions = questions
        self.reward = reward

    def columns(self, completions: Sequence[str], example_ids: Sequence[str]) -> dict[str, list]:
        picks, targets = [], []
        for text, eid in zip(completions, example_ids, strict=True):
            q = self.questions[eid]
            labels = LABELS[: len(q.order)]
            label = text.strip()
            shown = labels.index(label) if len(label) == 1 and label in labels else None
            picks.append(None if shown is None else q.order[shown])
            targets.append(q.example.target_index)
        return {"pick": picks, "target": targets, "scores": [None] * len(picks)}

    def __call__(
        self, completions: Sequence[Any], example_id: Sequence[str], **kwargs: Any
    ) -> list[float]:
        texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
        cols = self.columns(texts, example_id)
        total = list(self.reward(texts, **cols))
        log = kwargs.get("log_metric")
        if log is not None and texts:
            hits = [
                p is not None and p == t for p, t in zip(cols["pick"], cols["target"], strict=True)
            ]
            log("accuracy", sum(hits) / len(hits))
            log("reasoner/valid", sum(p is not None for p in cols["pick"]) / len(hits))
        return total


def reasoner_rows(
    examples: Sequence[RerankExample],
    contexts: Sequence[str],
    catalog: Catalog,
    template: Any,
    *,
    shuffle: bool = True,
    seed: int = 0,
) -> tuple[list[dict[str, Any]], PromptTable, dict[str, Question]]:
    """Training rows, the prompt table (every prompt: the choice among its labels) and
    each example's question."""
    from grammars.choice import choice_labels, label_constraint

    rows, table, questions = [], PromptTable(), {}
    for ex, context in zip(examples, contexts, strict=True):
        order = shown_order(ex.example_id, ex.candidates, shuffle, seed)
        shown = [ex.candidates[i] for i in order]
        prompt = reasoner_prompt(context, shown, catalog, template)
        table.add(prompt, label_constraint(choice_labels(len(shown))), where=ex.example_id)
        rows.append({"prompt": prompt, "example_id": ex.example_id})
        questions[ex.example_id] = Question(ex, tuple(order))
    return rows, table, questions


def plan_reasoner(
    config: ReasonerTrainConfig,
    tokenizer: Any,
    *,
    tasks: TaskSet | None = None,
    contexts: Sequence[str] | None = None,
) -> StagePlan:
    """The Stage 2 plan; ``contexts`` (one per selected example) skip the verbalizer."""
    from prompts import load_prompt

    tasks = tasks or TaskSet.load(config.data.tasks)
    examples = select(tasks, config.data.split, config.data.limit)
    domain = config.verbalizer.domain or tasks.domain
    if contexts is None:
        contexts = frozen_contexts(examples, tasks.catalog, config.verbalizer, domain, tokenizer)
    template = load_prompt("reasoner", domain=domain, path=config.prompt)
    rows, table, questions = reasoner_rows(
        examples,
        contexts,
        tasks.catalog,
        template,
        shuffle=config.shuffle_candidates,
        seed=config.candidate_seed,
    )
    reward = ReasonerReward(questions, get_reward(config.rewards.kind))
    meta = {
        "reasoner": "llm",
        "domain": domain,
        "context_verbalizer": config.verbalizer.name,
        "context_model": config.verbalizer.model,
        "tasks": str(config.data.tasks),
    }
    return StagePlan("reasoner", config, rows, table, reward, meta)


def train_reasoner(
    config: ReasonerTrainConfig,
    *,
    tasks: TaskSet | None = None,
    contexts: Sequence[str] | None = None,
    model: Any = None,
    tokenizer: Any = None,
    generator_factory: GeneratorFactory | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Run Stage 2; the final adapter lands in ``config.output_dir / "final"``."""
    return train_stage(
        config,
        lambda tok: plan_reasoner(config, tok, tasks=tasks, contexts=contexts),
        model=model,
        tokenizer=tokenizer,
        resume=resume,
        overwrite=overwrite,
        progress=progress,
        generator_factory=generator_factory,
        callbacks=callbacks,
    )
