"""Per-line credit: each plan line's code is priced against the other codes with the other
lines held fixed, and the price lands on that code's tokens only."""

from __future__ import annotations

import json
import math

import pytest
import torch

from tests.trainers.conftest import GenreOracle, toy_tasks
from tests.trainers.test_grpo_smoke import LORA, TINY_GRPO, fresh
from toolkit.errors import ConfigError
from toolkit.verbalizers.actions import ActionsVerbalizer, NumberedActionsVerbalizer
from trainers.config import VerbalizerTrainConfig
from trainers.credit import LineCredit, char_ends, token_advantages
from trainers.logging import read_metrics
from trainers.stage1 import train_verbalizer

CODES = ("drop", "enrich", "keep")
RIGHT = {"a": ["drop", "keep", "keep"], "b": ["keep", "keep", "drop"]}


def matches(texts, ids):
    """The share of lines whose code is the example's right one (0 for no plan)."""
    out = []
    for text, i in zip(texts, ids, strict=True):
        if not text.startswith("["):
            out.append(0.0)
            continue
        codes = json.loads(text)
        out.append(sum(c == r for c, r in zip(codes, RIGHT[i], strict=True)) / len(codes))
    return out


def test_credit_is_the_chosen_code_against_the_mean_of_all_codes():
    verbalizer = ActionsVerbalizer(None)
    credit = LineCredit(matches, verbalizer.code_spans, CODES)
    texts = ['["drop","drop","keep"]', '["keep","keep","drop"]', "not a plan"]
    out = credit(texts, ["a", "b", "a"])
    n, k = 3, len(CODES)
    right, wrong = (k - 1) / (k * n), -1 / (k * n)  # a right code loses 1/n to each other code
    assert [c for *_, c in out[0]] == pytest.approx([right, wrong, right])
    assert [c for *_, c in out[1]] == pytest.approx([right] * 3)
    assert out[2] == []  # an output that is no plan gets no line credit
    assert [texts[0][s:e] for s, e, _ in out[0]] == ["drop", "drop", "keep"]


def test_numbered_plans_credit_the_codes_not_the_line_numbers():
    verbalizer = NumberedActionsVerbalizer(None)
    text = '{"1":"drop","2":"keep","3":"keep"}'
    spans = verbalizer.code_spans(text)
    assert [text[s:e] for s, e in spans] == ["drop", "keep", "keep"]
    assert verbalizer.code_spans('{"1":"drop"') is None
    assert ActionsVerbalizer(None).code_spans('["keep","bogus"]') == [(2, 6), (9, 14)]


def test_credit_lands_on_the_code_tokens_only(tokenizer):
    text = '["drop","keep"]'
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    ids_t = torch.tensor([[*ids, tokenizer.eos_token_id]])
    mask = torch.ones_like(ids_t)
    mask[0, -1] = 0
    ends = char_ends(tokenizer, ids)
    assert ends[-1] == len(text)
    credits = [[(2, 6, 0.3), (9, 13, -0.3)]]
    adv, rms = token_advantages(torch.tensor([0.5]), ids_t, mask, credits, tokenizer, 2.0)
    assert rms == pytest.approx(0.3)
    starts = [0, *ends[:-1]]
    pieces = [text[a:b] for a, b in zip(starts, ends, strict=True)]
    bumped = {p: round(float(adv[0, t]) - 0.5, 6) for t, p in enumerate(pieces)}
    assert pieces[0].startswith("[") and bumped[pieces[0]] == 0  # no code in '[' or '["'
    assert any("drop" in p or p in "drop" for p, v in bumped.items() if v == 2.0)
    assert any("keep" in p or p in "keep" for p, v in bumped.items() if v == -2.0)
    assert set(bumped.values()) <= {0.0, 2.0, -2.0}
    assert adv[0, -1] == pytest.approx(0.5)  # past the completion: the sequence advantage
    off, zero = token_advantages(torch.tensor([0.5]), ids_t, mask, [[]], tokenizer, 2.0)
    assert zero == 0.0 and torch.all(off == 0.5)


def credit_config(tmp_path, base_dir, weight):
    return VerbalizerTrainConfig(
        model={"path": str(base_dir), "lora": LORA},
        data={"tasks": str(tmp_path / "toy")},
        grpo={**TINY_GRPO, "max_completion_length": 64},
        rewards={"kind": "soft_accuracy", "line_credit": weight},
        output_dir=tmp_path / "run",
    )


def test_stage1_trains_with_line_credit(tmp_path, base_dir):
    model, tok = fresh(base_dir)
    tasks = toy_tasks(8)
    result = train_verbalizer(
        credit_config(tmp_path, base_dir, 1.0),
        tasks=tasks,
        policy=ActionsVerbalizer(None, tokenizer=tok),
        oracle=GenreOracle(tasks.catalog),
        model=model,
        tokenizer=tok,
        progress=False,
    )
    assert result.global_step == 2
    rows = read_metrics(result.metrics_path)
    for row in rows[:2]:
        assert row["credit/lines"] == 5  # every toy history has 5 lines, each credited
        assert math.isfinite(row["credit/rms"]) and row["credit/rms"] > 0
        assert row["time/credit"] >= 0


def test_line_credit_needs_a_plan_verbalizer(tmp_path, base_dir):
    from tests.trainers.conftest import ToyGenreVerbalizer

    model, tok = fresh(base_dir)
    tasks = toy_tasks(4)
    with pytest.raises(ConfigError, match="line_credit"):
        train_verbalizer(
            credit_config(tmp_path, base_dir, 1.0),
            tasks=tasks,
            policy=ToyGenreVerbalizer(None, tokenizer=tok),
            oracle=GenreOracle(tasks.catalog),
            model=model,
            tokenizer=tok,
            progress=False,
        )
