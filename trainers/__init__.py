"""GRPO trainers: Stage 1 trains the verbalizer against a fixed oracle, Stage 2 the reasoner.

Built on TRL's ``GRPOTrainer`` with LoRA (peft). vtk adds the pieces TRL lacks, one module
each: grammar-constrained rollouts (``rollout``), log-probs under the grammar mask
(``masked_logprobs``, used by ``grpo.VtkGRPOTrainer``), rewards (``rewards``), typed
configs (``config``), metrics (``logging``) and the stages (``stage1``, ``stage2``,
``pipeline``) on a shared runner (``run``). Heavy imports happen inside functions.
"""

from __future__ import annotations

from trainers.config import (
    STAGE_CONFIGS,
    PipelineConfig,
    ReasonerTrainConfig,
    VerbalizerTrainConfig,
)
from trainers.rewards import REWARDS, get_reward

__all__ = [
    "REWARDS",
    "STAGE_CONFIGS",
    "PipelineConfig",
    "ReasonerTrainConfig",
    "VerbalizerTrainConfig",
    "get_reward",
]
