"""Stage 1 then Stage 2: the reasoner trains on the trained verbalizer's text."""

from __future__ import annotations

from typing import Any

from trainers.config import FrozenVerbalizerSettings, PipelineConfig
from trainers.run import CHECKPOINTS, FINAL, TrainResult
from trainers.stage1 import train_verbalizer
from trainers.stage2 import train_reasoner


def stage_configs(config: PipelineConfig) -> PipelineConfig:
    """The pipeline with each stage's output under ``output_dir`` and Stage 2 reading
    Stage 1's final model."""
    verbalizer = config.verbalizer.model_copy(
        update={"output_dir": config.output_dir / "verbalizer"}
    )
    frozen = FrozenVerbalizerSettings(
        **{
            **config.reasoner.verbalizer.model_dump(),
            "name": verbalizer.verbalizer.name,
            "model": str((verbalizer.output_dir / FINAL).resolve()),
            "domain": verbalizer.verbalizer.domain,
            "options": verbalizer.verbalizer.options,
        }
    )
    reasoner = config.reasoner.model_copy(
        update={"output_dir": config.output_dir / "reasoner", "verbalizer": frozen}
    )
    return config.model_copy(update={"verbalizer": verbalizer, "reasoner": reasoner})


def train_pipeline(
    config: PipelineConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    generator_factory: Any = None,
) -> tuple[TrainResult | None, TrainResult]:
    """Run both stages. With ``resume``, a Stage 1 that already saved its final model is
    not run again (its result is None); each stage resumes from its checkpoints if it has
    any and starts otherwise."""
    config = stage_configs(config)
    common = {"progress": progress, "generator_factory": generator_factory}
    first = None
    v_out, r_out = config.verbalizer.output_dir, config.reasoner.output_dir
    if not (resume and (v_out / FINAL / "vtk.json").is_file()):
        first = train_verbalizer(
            config.verbalizer,
            resume=resume and (v_out / CHECKPOINTS).is_dir(),
            overwrite=overwrite,
            **common,
        )
    second = train_reasoner(
        config.reasoner,
        resume=resume and (r_out / CHECKPOINTS).is_dir(),
        overwrite=overwrite,
        **common,
    )
    return first, second
