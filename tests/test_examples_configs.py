"""Every YAML under examples/ names its launch command in a header comment and validates
against the config model of that command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from toolkit.config import load_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = [
    path
    for path in sorted((ROOT / "examples").rglob("*.yaml"))
    + sorted((ROOT / "examples").rglob("*.yml"))
    if path.name != "domain.yaml"  # domain folders: tests/test_shipped_domains.py
]


def config_models() -> dict[str, type]:
    """Command -> the pydantic model its ``--config`` file is read into."""
    from toolkit.experiment import ExperimentConfig
    from toolkit.tasks import TaskConfig
    from trainers.config import STAGE_CONFIGS

    models: dict[str, type] = {"vtk data prepare": TaskConfig, "vtk experiment": ExperimentConfig}
    for stage, model in STAGE_CONFIGS.items():
        models[f"vtk train {stage}"] = model
    return models


def launch_command(path: Path) -> str:
    """The header comment line that runs this file with ``--config``."""
    rel = path.relative_to(ROOT).as_posix()
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        if "--config" in line and rel in line:
            return line.lstrip("# ").strip()
    raise AssertionError(f"{rel}: no header comment with `vtk ... --config {rel}`")


def test_examples_exist():
    assert EXAMPLES, "examples/ holds no YAML config"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_example_config_validates(path: Path):
    command = launch_command(path)
    models = config_models()
    matches = [c for c in models if re.match(rf"{re.escape(c)}\b", command)]
    assert matches, f"{path.name}: no config model known for `{command}`"
    model = models[max(matches, key=len)]
    config = load_config(model, path)
    # the file sets only fields the model knows (extra keys are refused) and round-trips
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert set(data) <= set(type(config).model_fields)
