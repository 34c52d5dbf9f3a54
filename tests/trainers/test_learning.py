"""GRPO learns on a toy task whose right answer is knowable, and the masked log-probs
learn at least as fast as the unmasked ones.

The task (``conftest``): each user's history is dominated by one genre and the target is
an unseen item of that genre; the verbalizer names a genre under a ``choice`` grammar
(several tokenizations per genre, so most sampled tokens are forced by the grammar) and
the genre-counting oracle hits exactly when the named genre is the dominant one. Tastes
are skewed (80% of users are crime fans), so the best answer is knowable even for a
policy that cannot read: a random 2-layer model learns that prior within a few steps,
while learning to read the history is beyond this test's budget at this size.

The random model's embeddings are scaled up 8x: with the default initialisation its logits
span about ±1, so no adapter could make any answer likely; a trained LM's logits are sharp.
Both modes start from the same weights and seeds; the policy is measured before and after
training by its expected reward on held-out users (16 samples each, fixed seed).
"""

from __future__ import annotations

import statistics

import pytest
import torch

from tests.trainers.conftest import GenreOracle, ToyGenreVerbalizer, toy_examples, toy_tasks
from toolkit.tasks import TaskSet
from trainers.config import VerbalizerTrainConfig
from trainers.logging import read_metrics
from trainers.stage1 import VerbalizerReward, train_verbalizer

SKEW = (0.8, 0.1, 0.1)
STEPS = 10
LEARNING_RATE = 0.002


def policy_model(tokenizer):
    from toolkit.models import tiny_model

    model = tiny_model(tokenizer, seed=0)
    with torch.no_grad():
        model.model.embed_tokens.weight.mul_(8.0)  # tied with the LM head
    return model


def expected_reward(model, tokenizer, tasks: TaskSet, samples: int = 16) -> float:
    """Mean oracle accuracy of ``samples`` constrained samples per held-out user."""
    from toolkit.backends.base import SamplingParams
    from toolkit.backends.transformers_backend import TransformersGenerator

    policy = ToyGenreVerbalizer(None, tokenizer=tokenizer)
    examples = tasks.split("train")
    reward = VerbalizerReward(
        {ex.example_id: ex for ex in examples},
        tasks.catalog,
        policy,
        GenreOracle(tasks.catalog),
        lambda completions, **cols: [0.0] * len(completions),
    )
    generator = TransformersGenerator(model, tokenizer, chat=True, batch_size=64)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        groups = generator.generate(
            [policy.prompt(ex.history, tasks.catalog) for ex in examples],
            [policy.constraint(ex.history, tasks.catalog) for ex in examples],
            n=samples,
            params=SamplingParams(max_new_tokens=6, seed=1234),
        )
    model.train(was_training)
    texts = [c.text for group in groups for c in group]
    ids = [ex.example_id for ex, group in zip(examples, groups, strict=True) for _ in group]
    cols = reward.columns(texts, ids)
    hits = [p == t for p, t in zip(cols["pick"], cols["target"], strict=True)]
    return sum(hits) / len(hits)


def train(mode: str, tokenizer, tmp_path) -> tuple[float, list[float], object]:
    tasks = toy_tasks(48, seed=0, weights=SKEW)
    config = VerbalizerTrainConfig(
        model={"path": str(tmp_path / "unused"), "lora": {"r": 8, "alpha": 16}},
        data={"tasks": str(tmp_path / "unused")},
        grpo={
            "device": "cpu",
            "num_generations": 8,
            "batch_size": 32,
            "rollout_batch_size": 64,
            "max_steps": STEPS,
            "learning_rate": LEARNING_RATE,
            "max_completion_length": 6,
            "beta": 0.0,
            "save_steps": 1000,
            "seed": 0,
        },
        rewards={"length": False},
        logprobs=mode,
        output_dir=tmp_path / mode,
    )
    result = train_verbalizer(
        config,
        tasks=tasks,
        policy=ToyGenreVerbalizer(None, tokenizer=tokenizer),
        oracle=GenreOracle(tasks.catalog),
        model=policy_model(tokenizer),
        tokenizer=tokenizer,
        progress=False,
    )
    rows = [r for r in read_metrics(result.metrics_path) if "accuracy" in r]
    seconds = statistics.fmean(r["time/step"] for r in rows[1:])
    return seconds, [r["accuracy"] for r in rows], result.trainer.model


def test_reward_rises_and_masked_learns_at_least_as_fast(tokenizer, tmp_path, capsys):
    held_out = TaskSet(
        {"train": toy_examples(24, seed=7, weights=SKEW)},
        toy_tasks(1).catalog,
        {"domain": "streaming"},
    )
    before = expected_reward(policy_model(tokenizer), tokenizer, held_out)
    report = {}
    for mode in ("masked", "unmasked"):
        seconds, curve, model = train(mode, tokenizer, tmp_path)
        report[mode] = (expected_reward(model, tokenizer, held_out), curve, seconds)
    with capsys.disabled():
        print(f"\nexpected reward before training: {before:.3f}")
        for mode, (after, curve, seconds) in report.items():
            shown = " ".join(f"{a:.2f}" for a in curve)
            print(f"{mode:>9}: after {STEPS} steps {after:.3f}  ({seconds:.2f} s/step)  [{shown}]")
    masked, unmasked = report["masked"][0], report["unmasked"][0]
    assert masked - before >= 0.2, f"masked policy did not learn: {before:.3f} -> {masked:.3f}"
    assert masked >= unmasked - 0.05, f"masked {masked:.3f} behind unmasked {unmasked:.3f}"


@pytest.mark.parametrize("weights", [None, SKEW])
def test_toy_tastes(weights):
    """The skew is what the learning test relies on (and balanced stays balanced)."""
    from collections import Counter

    examples = toy_examples(48, weights=weights)
    catalog = toy_tasks(1).catalog
    shares = Counter(catalog[ex.target].genres[0] for ex in examples)
    expected = [16, 16, 16] if weights is None else [38, 5, 5]
    assert sorted(shares.values(), reverse=True) == sorted(expected, reverse=True)
