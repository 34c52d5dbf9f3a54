"""Stage 2's exact objective: its gradient is sampled GRPO's large-G average (a toy
problem with free label logits), it equals 2 arcsin sqrt p for a binary reward, and it
trains a real (tiny) reasoner end to end: LoRA moves, metrics are finite, resume works,
each epoch shows new candidate orders."""

from __future__ import annotations

import json
import math

import pytest

from tests.trainers.conftest import toy_tasks
from tests.trainers.test_grpo_smoke import LORA, TINY_GRPO, Snapshot, changed, fresh
from trainers.config import ReasonerTrainConfig
from trainers.exact import exact_loss
from trainers.logging import read_metrics
from trainers.stage2 import train_reasoner

torch = pytest.importorskip("torch")


def exact_grad(z, r, form="grpo"):
    z = z.clone().requires_grad_(True)
    loss, _ = exact_loss(z.unsqueeze(0), r.unsqueeze(0), form=form)
    loss.backward()
    return z.grad


def sampled_grpo_grad(z, r, groups, g, seed=0):
    """TRL's GRPO update on one question: G draws, advantages (r - mean) / (std + 1e-4)
    per group, loss -(1/G) sum A log p(a), averaged over ``groups`` groups."""
    gen = torch.Generator().manual_seed(seed)
    z = z.clone().requires_grad_(True)
    logp = z.log_softmax(-1)
    draws = torch.multinomial(logp.exp().detach(), groups * g, replacement=True, generator=gen)
    draws = draws.view(groups, g)
    rewards = r[draws]
    adv = (rewards - rewards.mean(1, keepdim=True)) / (rewards.std(1, keepdim=True) + 1e-4)
    loss = -(adv * logp[draws]).mean()
    loss.backward()
    return z.grad


@pytest.mark.parametrize("reward", ["binary", "graded"])
def test_exact_gradient_is_the_large_g_average_of_grpo(reward):
    torch.manual_seed(0)
    z = torch.randn(10)
    r = -torch.ones(10)
    r[3] = 1.0
    if reward == "graded":
        r = torch.linspace(-1, 1, 10)[torch.randperm(10)]
    exact = exact_grad(z, r)
    sampled = sampled_grpo_grad(z, r, groups=4000, g=256)
    cosine = torch.nn.functional.cosine_similarity(exact, sampled, dim=0)
    assert cosine > 0.995
    assert sampled.norm() / exact.norm() == pytest.approx(1.0, abs=0.03)


def test_binary_exact_is_arcsin_sqrt_p():
    torch.manual_seed(1)
    for p_scale in (0.1, 1.0, 4.0):  # from flat to peaked policies
        z = torch.randn(10) * p_scale
        r = -torch.ones(10)
        r[7] = 1.0
        zz = z.clone().requires_grad_(True)
        (-2 * torch.arcsin(zz.softmax(-1)[7].sqrt())).backward()
        assert torch.allclose(exact_grad(z, r), zz.grad, atol=1e-6)
        # the expected-reward form is 2 grad p: weaker where p is small
        zz.grad = None
        (-(2 * zz.softmax(-1)[7] - 1)).backward()
        assert torch.allclose(exact_grad(z, r, "expected"), zz.grad, atol=1e-6)


def test_no_signal_without_reward_variance_and_masked_labels():
    z = torch.randn(1, 4, requires_grad=True)
    loss, stats = exact_loss(z, torch.full((1, 4), -1.0))
    loss.backward()
    assert torch.count_nonzero(z.grad) == 0
    assert stats["reward_std"].item() == pytest.approx(0.0, abs=1e-6)
    z = torch.zeros(1, 4, requires_grad=True)
    valid = torch.tensor([[True, True, False, False]])
    loss, stats = exact_loss(z, torch.tensor([[1.0, -1.0, 5.0, 5.0]]), valid=valid)
    loss.backward()
    assert z.grad[0, 2:].abs().sum() == 0  # absent labels get no probability, no gradient
    assert stats["expected_reward"].item() == pytest.approx(0.0)


def test_exact_kl_is_zero_at_the_reference():
    z = torch.randn(2, 5, requires_grad=True)
    r = torch.tensor([[1.0, -1, -1, -1, -1], [-1, -1, 1.0, -1, -1]])
    _, stats = exact_loss(z, r, ref_logits=z.detach(), beta=0.1)
    assert torch.allclose(stats["kl"], torch.zeros(2), atol=1e-6)


def exact_config(tmp_path, base_dir, **grpo):
    return ReasonerTrainConfig(
        model={"path": str(base_dir), "lora": LORA},
        data={"tasks": str(tmp_path / "toy")},
        grpo={**TINY_GRPO, "max_completion_length": 2, "batch_size": 4, **grpo},
        objective="exact",
        output_dir=tmp_path / "reasoner-exact",
    )


def test_exact_stage2_trains_and_resumes(tmp_path, base_dir):
    snap = Snapshot()
    model, tok = fresh(base_dir)
    config = exact_config(tmp_path, base_dir)
    result = train_reasoner(
        config, tasks=toy_tasks(6), model=model, tokenizer=tok, progress=False, callbacks=[snap]
    )
    _, still = changed(snap, result.trainer.model)
    assert not still, f"unchanged after 2 steps: {still}"
    rows = read_metrics(result.metrics_path)
    for row in rows[:2]:
        assert -1.0 <= row["reward"] <= 1.0 and 0 <= row["accuracy"] <= 1
        assert 0 < row["reasoner/p_target"] < 1 and math.isfinite(row["kl"])
    meta = json.loads((result.final_dir / "vtk.json").read_text())
    assert meta["objective"] == "exact" and meta["global_step"] == 2
    longer = config.model_copy(update={"grpo": config.grpo.model_copy(update={"max_steps": 3})})
    model, tok = fresh(base_dir)
    resumed = train_reasoner(
        longer, tasks=toy_tasks(6), model=model, tokenizer=tok, progress=False, resume=True
    )
    assert resumed.global_step == 3


def test_each_epoch_shows_new_candidate_orders(tmp_path, base_dir, tokenizer):
    from trainers.stage2 import plan_reasoner

    config = exact_config(tmp_path, base_dir, max_steps=6)  # 6 x 4 rows over 6 examples
    plan = plan_reasoner(config, tokenizer, tasks=toy_tasks(6))
    assert len(plan.rows) == 6 * 4
    slots: dict[str, set[int]] = {}
    for row in plan.rows:
        slots.setdefault(row["question_id"].split("@")[0], set()).add(row["target_slot"])
        assert len(row["label_rewards"]) == 10 and sorted(row["label_rewards"])[-1] == 1.0
        assert row["label_rewards"][row["target_slot"]] == 1.0
    assert any(len(s) > 1 for s in slots.values())  # the target moves between epochs
