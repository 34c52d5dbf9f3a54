"""Typed configs of the two GRPO stages and the pipeline, grouped by concern.

* ``model``: the policy's base model (``embedded``, a folder, or an adapter folder, which
  is merged on load) and its LoRA adapter (``lora: null`` trains every weight).
* ``data``: the task directory and which examples train.
* ``grpo``: the optimisation (group size G, steps, learning rate, beta, epsilon, loss
  type, completion budget, temperature, batch, accumulation, checkpoints, seed).
* ``rewards``: which correctness reward (``accuracy``, ``ranking``, ``plus_minus_one`` or
  a dotted path), the length plateau and its weight ``1 - alpha``.
* ``oracle`` (Stage 1): the fixed reasoner that reads the verbalizations.
* ``verbalizer``: Stage 1's policy (an ``LLMVerbalizer``), Stage 2's frozen verbalizer.
* ``logprobs``: ``masked`` (log-softmax over the grammar's allowed tokens, the
  distribution the sampler drew from) or ``unmasked`` (TRL's full-vocabulary one).

Every model forbids unknown keys, so a typo is an error naming the field, not a silently
ignored setting. ``toolkit.config.load_config`` reads a YAML file with ``key=value``
overrides and reports every problem at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from peft import LoraConfig
    from trl import GRPOConfig

LogprobMode = Literal["masked", "unmasked"]
LossType = Literal["grpo", "bnpo", "dr_grpo", "dapo", "cispo", "sapo", "luspo", "vespo"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoraSettings(_Strict):
    """The LoRA adapter: rank, scale, dropout and which linear layers carry it."""

    r: int = Field(8, ge=1)
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] | str = ["q_proj", "k_proj", "v_proj", "o_proj"]

    def to_peft(self) -> LoraConfig:
        from peft import LoraConfig

        return LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=self.target_modules,
            task_type="CAUSAL_LM",
        )


class ModelSettings(_Strict):
    """The policy: ``path`` is ``embedded`` (SmolLM2-135M-Instruct), a model folder or an
    adapter folder (merged into its base on load, e.g. a Stage 1 output)."""

    path: str = "embedded"
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    lora: LoraSettings | None = Field(default_factory=LoraSettings)


class DataSettings(_Strict):
    """Which rerank examples train: a task directory (``vtk data prepare``) and a split."""

    tasks: Path
    split: Literal["train", "val", "test"] = "train"
    limit: int | None = Field(None, ge=1)
    """The first N examples of the split (file order), or all."""
    max_history: int | None = Field(20, ge=1)
    """The history view: interactions a verbalizer is shown (the same at evaluation)."""


class GRPOSettings(_Strict):
    """The GRPO objective and its optimisation. ``batch_size`` counts completions per
    micro-batch (TRL's ``per_device_train_batch_size``); one optimizer step sees
    ``batch_size * gradient_accumulation_steps / num_generations`` prompts."""

    num_generations: int = Field(4, ge=2)
    max_steps: int = Field(100, ge=0)
    """Optimizer steps; ``0`` trains no GRPO: the warm-started model is the result (a
    warm-start-only row, e.g. to check that SFT reached its teacher)."""
    learning_rate: float = Field(1e-5, gt=0)
    lr_scheduler_type: str = "constant"
    warmup_steps: int = Field(0, ge=0)
    beta: float = Field(0.04, ge=0)
    """Weight of the KL to the reference policy (the base model with the adapter off)."""
    epsilon: float = Field(0.2, gt=0)
    epsilon_high: float | None = Field(None, gt=0)
    loss_type: LossType = "grpo"
    scale_rewards: Literal["group", "batch", "none"] = "group"
    num_iterations: int = Field(1, ge=1)
    max_completion_length: int = Field(256, ge=1)
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: int = Field(0, ge=0)
    batch_size: int = Field(8, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    rollout_batch_size: int = Field(32, ge=1)
    """Rows (prompts x G samples) per ``generate`` call of the rollout backend."""
    shared_prompt: bool = True
    """Encode each prompt once for its G samples, in generation (one prefill, its cache
    repeated) and in training (``trainers.shared_prompt``); ``false``: the plain path."""
    logprob_chunk_tokens: int = Field(2048, ge=1)
    """Rows x positions whose full-vocabulary logits are alive at once in the loss."""
    max_grad_norm: float = Field(1.0, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    gradient_checkpointing: bool = False
    save_steps: int = Field(50, ge=1)
    save_total_limit: int | None = Field(2, ge=1)
    logging_steps: int = Field(1, ge=1)
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"

    @model_validator(mode="after")
    def _whole_groups(self) -> GRPOSettings:
        total = self.batch_size * self.gradient_accumulation_steps
        if total % self.num_generations:
            raise ValueError(
                f"batch_size * gradient_accumulation_steps ({total}) must be a multiple of "
                f"num_generations ({self.num_generations}): a step holds whole groups"
            )
        return self

    @property
    def prompts_per_step(self) -> int:
        return self.batch_size * self.gradient_accumulation_steps // self.num_generations


class PlateauSettings(_Strict):
    """``r_len`` is 1 for a compression ratio in ``[low, high]`` and falls linearly
    outside: ``1 - slope_low * (low - x)`` below, ``1 - slope_high * (x - high)`` above,
    floored at 0. The default slopes reach 0 near ratio 0 and near the template length."""

    low: float = Field(0.3, ge=0)
    high: float = Field(0.7, gt=0)
    slope_low: float = Field(3.0, ge=0)
    slope_high: float = Field(3.0, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> PlateauSettings:
        if self.low > self.high:
            raise ValueError(f"plateau low ({self.low}) must not exceed high ({self.high})")
        return self


class RewardSettings(_Strict):
    """Total reward = ``alpha * correct + (1 - alpha) * r_len`` when ``length`` is on,
    else ``correct``. ``kind`` names the correctness reward in ``trainers.rewards.REWARDS``
    (or a dotted path to a user callable). ``invalid`` is the total given to an output the
    verbalizer could not decode. ``line_credit`` (Stage 1, plan verbalizers): the weight of
    each line's counterfactual credit on its code's tokens (``trainers.credit``); 0: off,
    every token gets the sequence's advantage."""

    kind: str = "accuracy"
    alpha: float = Field(0.9, ge=0, le=1)
    length: bool = True
    plateau: PlateauSettings = Field(default_factory=PlateauSettings)
    invalid: float = 0.0
    line_credit: float = Field(0.0, ge=0)


class OracleSettings(_Strict):
    """The fixed reasoner scoring Stage 1 rollouts: a ``toolkit.reasoners`` name or dotted
    path, built as ``cls(catalog, **options)``; ``batch_size`` questions per call."""

    name: str = "embedding"
    options: dict[str, Any] = Field(default_factory=dict)
    batch_size: int = Field(64, ge=1)


class PolicySettings(_Strict):
    """Stage 1's policy: an ``LLMVerbalizer`` (name or dotted path) built with
    ``options``; ``domain`` defaults to the task set's."""

    name: str = "actions"
    domain: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class FrozenVerbalizerSettings(_Strict):
    """Stage 2's context: ``template`` (the raw-log ablation) or a verbalizer run once per
    example, with ``model`` (e.g. a Stage 1 output folder) when it is an LLM verbalizer."""

    name: str = "template"
    model: str | None = None
    domain: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    max_new_tokens: int = Field(256, ge=1)
    batch_size: int = Field(8, ge=1)


class _StageConfig(_Strict):
    model: ModelSettings = Field(default_factory=ModelSettings)
    data: DataSettings
    grpo: GRPOSettings = Field(default_factory=GRPOSettings)
    logprobs: LogprobMode = "masked"
    output_dir: Path
    warm_start: str | None = None
    """A ``trainers.warm_start.WARM_STARTS`` name run on the policy before GRPO."""
    warm_start_options: dict[str, Any] = Field(default_factory=dict)
    """Settings of the warm start (``heuristic``: ``trainers.sft.SFTSettings`` fields)."""
    merge: bool = False

    @model_validator(mode="after")
    def _something_to_train(self) -> _StageConfig:
        if self.grpo.max_steps == 0 and self.warm_start is None:
            raise ValueError(
                "grpo.max_steps: 0 trains nothing without a warm_start (set warm_start, "
                "or max_steps >= 1)"
            )
        return self

    """Save the final model merged (a plain model folder) instead of a LoRA adapter."""


class VerbalizerTrainConfig(_StageConfig):
    """Stage 1: train the verbalizer against a fixed oracle."""

    stage: Literal["verbalizer"] = "verbalizer"
    verbalizer: PolicySettings = Field(default_factory=PolicySettings)
    oracle: OracleSettings = Field(default_factory=OracleSettings)
    rewards: RewardSettings = Field(default_factory=RewardSettings)
    output_dir: Path = Path("runs/verbalizer")


def _reasoner_rewards() -> RewardSettings:
    return RewardSettings(kind="plus_minus_one", length=False)


class ReasonerTrainConfig(_StageConfig):
    """Stage 2: train the reasoner on a frozen verbalizer's text (``template``: raw logs)."""

    stage: Literal["reasoner"] = "reasoner"
    verbalizer: FrozenVerbalizerSettings = Field(default_factory=FrozenVerbalizerSettings)
    rewards: RewardSettings = Field(default_factory=_reasoner_rewards)
    shuffle_candidates: bool = True
    """Show candidates in the seeded per-question order the LLM reasoner uses at eval."""
    candidate_seed: int = 0
    """The shuffle's seed (``LLMReasoner(seed=...)`` at eval)."""
    prompt: str | None = None
    """A reasoner prompt template file; default: the domain's ``reasoner`` template."""
    objective: Literal["grpo", "exact"] = "grpo"
    """``grpo``: sample G answers per question (the paper's); ``exact``: one forward gives
    the answer distribution over the labels and ``trainers.exact`` optimises GRPO's
    expected update (``grpo.batch_size`` then counts questions per micro-batch)."""
    exact_form: Literal["grpo", "expected"] = "grpo"
    """The exact objective: GRPO's expected group-normalised update (2 arcsin sqrt p for
    a binary reward) or the plain expected reward."""
    order_epochs_max: int = Field(8, ge=1)
    """At most this many seeded candidate orders per example (one per pass over the data)."""
    output_dir: Path = Path("runs/reasoner")

    def order_epochs(self, n_examples: int) -> int:
        """Passes over the data the run makes (each gets its own candidate orders)."""
        g = self.grpo
        per_step = g.batch_size * g.gradient_accumulation_steps
        if self.objective == "grpo":
            per_step //= g.num_generations
        needed = g.max_steps * per_step
        return max(1, min(self.order_epochs_max, -(-needed // max(n_examples, 1))))

    @model_validator(mode="after")
    def _no_length(self) -> ReasonerTrainConfig:
        if self.rewards.length:
            raise ValueError("rewards.length applies to Stage 1 only; set rewards.length=false")
        return self


class PipelineConfig(_Strict):
    """Stage 1 then Stage 2, the reasoner reading the trained verbalizer's text.

    A top-level ``data`` is shared by both stages (a stage's own ``data`` wins); the
    stages write under ``output_dir/verbalizer`` and ``output_dir/reasoner``, and Stage
    2's ``verbalizer`` is set to the Stage 1 result when the pipeline runs."""

    stage: Literal["pipeline"] = "pipeline"
    output_dir: Path = Path("runs/pipeline")
    data: DataSettings | None = None
    verbalizer: VerbalizerTrainConfig
    reasoner: ReasonerTrainConfig

    @model_validator(mode="before")
    @classmethod
    def _share_data(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("data") is not None:
            for stage in ("verbalizer", "reasoner"):
                section = data.setdefault(stage, {})
                if isinstance(section, dict):
                    section.setdefault("data", data["data"])
        return data


STAGE_CONFIGS: dict[str, type[BaseModel]] = {
    "verbalizer": VerbalizerTrainConfig,
    "reasoner": ReasonerTrainConfig,
    "pipeline": PipelineConfig,
}


def resolve_device(setting: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``."""
    if setting != "auto":
        return setting
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def training_kwargs(config: _StageConfig, checkpoint_dir: Path) -> dict[str, Any]:
    """The ``TrainingArguments`` fields every vtk trainer shares (GRPO and Stage 2's exact
    objective): CPU-safe precision, the optimisation, checkpoints, our own logging."""
    g = config.grpo
    on_cpu = resolve_device(g.device) == "cpu"
    return {
        "output_dir": str(checkpoint_dir),
        "use_cpu": on_cpu,
        "bf16": not on_cpu and config.model.dtype == "bfloat16",
        "fp16": False,
        "max_steps": g.max_steps,
        "learning_rate": g.learning_rate,
        "lr_scheduler_type": g.lr_scheduler_type,
        "warmup_steps": g.warmup_steps,
        "per_device_train_batch_size": g.batch_size,
        "gradient_accumulation_steps": g.gradient_accumulation_steps,
        "max_grad_norm": g.max_grad_norm,
        "weight_decay": g.weight_decay,
        "activation_checkpointing": g.gradient_checkpointing,
        # the shared-prompt forward's recorded K/V need non-reentrant checkpointing
        "activation_checkpointing_kwargs": {"use_reentrant": False},
        "save_strategy": "steps",
        "save_steps": g.save_steps,
        "save_total_limit": g.save_total_limit,
        "logging_steps": g.logging_steps,
        "seed": g.seed,
        "data_seed": g.seed,
        "report_to": "none",
        "disable_tqdm": True,
        "remove_unused_columns": False,
        "dataloader_num_workers": 0,
    }


def grpo_args(config: _StageConfig, checkpoint_dir: Path) -> GRPOConfig:
    """TRL's ``GRPOConfig`` for a stage: the shared fields, the GRPO objective and sampling,
    no vLLM importance-sampling correction (it would compare masked sampler log-probs with
    unmasked trainer ones)."""
    from trl import GRPOConfig

    g = config.grpo
    return GRPOConfig(
        **training_kwargs(config, checkpoint_dir),
        num_generations=g.num_generations,
        beta=g.beta,
        epsilon=g.epsilon,
        epsilon_high=g.epsilon_high,
        loss_type=g.loss_type,
        scale_rewards=g.scale_rewards,
        num_iterations=g.num_iterations,
        max_completion_length=g.max_completion_length,
        temperature=g.temperature,
        top_p=g.top_p,
        top_k=g.top_k,
        use_vllm=False,
        vllm_importance_sampling_correction=False,
        log_completions=False,
    )
