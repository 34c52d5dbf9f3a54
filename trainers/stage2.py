"""Stage 2: train the reasoner on a frozen verbalizer's text.

Each example is verbalized once, up front (``template`` gives the raw-log ablation; an LLM
verbalizer, e.g. a Stage 1 result, runs greedily through the transformers backend). The
reasoner policy then samples G answers per example under the ``choice`` grammar (one
label token ``A``..``J`` per candidate, so its masked log-prob is an exact log-softmax over
the labels) and earns +1 for the target, -1 otherwise (``objective: grpo``, the paper's).
Because the answer is one label, ``objective: exact`` skips sampling: one forward gives the
whole answer distribution and ``trainers.exact`` optimises GRPO's expected update over it.
Either way each epoch of training shows an example's candidates in a new seeded order.

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


def shown_order(
    example_id: str, candidates: Sequence[str], shuffle: bool, seed: int, epoch: int = 0
) -> list[int]:
    """Position i shows candidate ``order[i]``: at epoch 0 the episode's order, a function
    of (seed, example id) only, so the reasoner trains on the order it is evaluated with;
    each later epoch of training a fresh seeded order of its own."""
    from toolkit.episodes import candidate_order

    if not shuffle:
        return list(range(len(candidates)))
    key = example_id if epoch == 0 else f"{example_id}\0epoch {epoch}"
    return list(candidate_order(len(candidates), seed, key))


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

    def columns(self, completions: Sequence[str], question_ids: Sequence[str]) -> dict[str, list]:
        picks, targets = [], []
        for text, qid in zip(completions, question_ids, strict=True):
            q = self.questions[qid]
            labels = LABELS[: len(q.order)]
            label = text.strip()
            shown = labels.index(label) if len(label) == 1 and label in labels else None
            picks.append(None if shown is None else q.order[shown])
            targets.append(q.example.target_index)
        return {"pick": picks, "target": targets, "scores": [None] * len(picks)}

    def __call__(
        self, completions: Sequence[Any], question_id: Sequence[str], **kwargs: Any
    ) -> list[float]:
        texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
        cols = self.columns(texts, question_id)
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
    epochs: int = 1,
) -> tuple[list[dict[str, Any]], PromptTable, dict[str, Question]]:
    """Training rows, the prompt table (every prompt: the choice among its labels) and
    each row's question, keyed by ``question_id``. With ``epochs`` > 1 every example comes
    back once per epoch with its candidates in a new seeded order (epoch 0: the order
    evaluation shows), so the reasoner cannot learn a slot."""
    from grammars.choice import choice_labels, label_constraint

    rows, table, questions = [], PromptTable(), {}
    for epoch in range(epochs):
        for ex, context in zip(examples, contexts, strict=True):
            order = shown_order(ex.example_id, ex.candidates, shuffle, seed, epoch)
            shown = [ex.candidates[i] for i in order]
            prompt = reasoner_prompt(context, shown, catalog, template)
            qid = ex.example_id if epoch == 0 else f"{ex.example_id}@{epoch}"
            table.add(prompt, label_constraint(choice_labels(len(shown))), where=ex.example_id)
            rows.append({"prompt": prompt, "example_id": ex.example_id, "question_id": qid})
            questions[qid] = Question(ex, tuple(order))
    return rows, table, questions


def label_rows(
    rows: Sequence[dict[str, Any]],
    questions: dict[str, Question],
    reward: Any,
    tokenizer: Any,
) -> list[dict[str, Any]]:
    """The exact objective's rows: the chat-formatted prompt ids, every label's reward
    (the configured reward of picking that slot) and the target's slot."""
    from toolkit.backends.transformers_backend import encode_prompt

    out = []
    for row in rows:
        q = questions[row["question_id"]]
        labels = LABELS[: len(q.order)]
        picks = list(q.order)
        target = q.example.target_index
        rewards = reward(
            list(labels), pick=picks, target=[target] * len(picks), scores=[None] * len(picks)
        )
        out.append(
            {
                "input_ids": encode_prompt(tokenizer, row["prompt"]),
                "label_rewards": [float(x) for x in rewards],
                "target_slot": picks.index(target),
                "question_id": row["question_id"],
            }
        )
    return out


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
    window = config.data.max_history
    examples = select(tasks, config.data.split, config.data.limit, window)
    domain = config.verbalizer.domain or tasks.domain
    if contexts is None:
        contexts = frozen_contexts(
            examples, tasks.catalog, config.verbalizer, domain, tokenizer, window=window
        )
    template = load_prompt("reasoner", domain=domain, path=config.prompt)
    epochs = config.order_epochs(len(examples))
    rows, table, questions = reasoner_rows(
        examples,
        contexts,
        tasks.catalog,
        template,
        shuffle=config.shuffle_candidates,
        seed=config.candidate_seed,
        epochs=epochs,
    )
    reward = ReasonerReward(questions, get_reward(config.rewards.kind))
    factory = None
    if config.objective == "exact":
        from trainers.exact import exact_trainer_factory

        rows = label_rows(rows, questions, get_reward(config.rewards.kind), tokenizer)
        factory = exact_trainer_factory(tokenizer)
    meta = {
        "reasoner": "llm",
        "domain": domain,
        "context_verbalizer": config.verbalizer.name,
        "context_model": config.verbalizer.model,
        "tasks": str(config.data.tasks),
        "objective": config.objective,
    }
    return StagePlan("reasoner", config, rows, table, reward, meta, trainer_factory=factory)


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
