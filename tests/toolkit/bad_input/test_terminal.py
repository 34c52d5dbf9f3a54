"""Class 6: the terminal shows vtk's own output; library chatter goes to the run's vtk.log."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest

from toolkit import logs


@pytest.fixture
def routed(monkeypatch):
    """``logs.configure`` with the warning hook restored afterwards."""
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)
    monkeypatch.setattr(logs._HANDLER, "verbose", False)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        logs.configure()
        warnings.showwarning = logs._showwarning  # catch_warnings saved the old hook
        yield


def library_code():
    """Stands for a library warning whose stacklevel points into vtk's code."""
    warnings.warn("`x` is deprecated", FutureWarning, stacklevel=2)
    warnings.warn("library detail", UserWarning, stacklevel=2)


library_code.__code__ = library_code.__code__.replace(co_filename="/site-packages/lib.py")


def test_library_warnings_and_logs_go_to_the_run_log(routed, tmp_path, capsys):
    with logs.run_log(tmp_path) as path:
        library_code()
        logging.getLogger("transformers.modeling_utils").warning("Writing model shards")
        logging.getLogger("trl.trainer").info("Dropping fully masked examples")
        logging.getLogger("trl.trainer").warning("Dropping fully masked examples")
    err = capsys.readouterr().err
    assert err == ""
    text = path.read_text()
    assert "FutureWarning: `x` is deprecated" in text and "library detail" in text
    assert "Writing model shards" in text and "Dropping fully masked" in text
    assert path.name == "vtk.log"


def vtk_code():
    """Stands for vtk's own code raising a plain UserWarning."""
    warnings.warn("dropping a partial last line (12 bytes)", stacklevel=2)


vtk_code.__code__ = vtk_code.__code__.replace(co_filename=str(Path(logs.__file__)))


def test_vtk_warnings_are_one_line_without_source(routed, capsys):
    vtk_code()
    warnings.warn(logs.VtkWarning("the oracle always picks slot A"), stacklevel=1)
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "warning: dropping a partial last line (12 bytes)",
        "warning: the oracle always picks slot A",
    ]


def test_verbose_shows_library_records(routed, tmp_path, capsys):
    logs.configure(verbose=True)
    logging.getLogger("peft").warning("adapter detail")
    assert "adapter detail" in capsys.readouterr().err


def test_records_before_a_run_folder_are_kept_for_its_log(routed, tmp_path):
    logging.getLogger("datasets").warning("early record")
    with logs.run_log(tmp_path) as path:
        pass
    assert "early record" in path.read_text()


def test_library_stream_handlers_are_removed(routed):
    logger = logging.getLogger("transformers")
    stray = logging.StreamHandler()
    logger.addHandler(stray)
    logs.tame()
    assert stray not in logger.handlers and logs._HANDLER in logger.handlers
    assert not logger.propagate


def test_trainer_printers_are_removed(tiny_lm, tokenizer, tmp_path):
    """transformers prints raw dicts ({'loss': ...}) through these two callbacks."""
    from transformers import PrinterCallback, ProgressCallback, Trainer, TrainingArguments

    from trainers.logging import quiet_trainer

    for disable in (True, False):
        args = TrainingArguments(tmp_path, use_cpu=True, report_to="none", disable_tqdm=disable)
        trainer = Trainer(model=tiny_lm, args=args, processing_class=tokenizer)
        quiet_trainer(trainer)
        kinds = {type(cb) for cb in trainer.callback_handler.callbacks}
        assert PrinterCallback not in kinds and ProgressCallback not in kinds


def test_stage_progress_prints_one_closing_line(capsys):
    from types import SimpleNamespace

    from trainers.logging import SFT_SUMMARY, StageProgress

    progress = StageProgress("warm start (SFT)", SFT_SUMMARY)
    state = SimpleNamespace(global_step=0, max_steps=2, is_world_process_zero=True)
    progress.on_train_begin(None, state, None)
    for step, loss in ((1, 1.5), (2, 1.25)):
        state.global_step = step
        progress.on_step_end(None, state, None)
        progress.on_log(None, state, None, logs={"loss": loss, "mean_token_accuracy": 0.5})
    progress.on_log(None, state, None, logs={"train_runtime": 3.0, "train_loss": 1.3})
    progress.on_train_end(None, state, None)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "warm start (SFT): step 1/2  loss 1.500  token acc 0.50"
    assert len(lines) == 3 and lines[2].startswith("warm start (SFT): done, 2 steps in")
    assert lines[2].endswith("loss 1.250  token acc 0.50")


def test_records_of_a_command_without_run_folder_go_to_the_cache_log(routed, tmp_path, monkeypatch):
    monkeypatch.setenv("VTK_CACHE_DIR", str(tmp_path))
    logging.getLogger("transformers").warning("loaded weights with a detail")
    path = logs.flush_pending()
    assert path == tmp_path / "logs" / "last.log"
    assert "loaded weights with a detail" in path.read_text()
    assert logs.flush_pending() is None  # nothing new


def test_libraries_imported_later_are_tamed_on_import(tmp_path):
    """``vtk verbalize`` / ``vtk eval`` import transformers after the CLI configured logging."""
    import subprocess
    import sys

    code = (
        "from toolkit import logs; logs.configure()\n"
        "import transformers.utils.logging as t\n"
        "t.get_logger('transformers.generation').warning('generation flags ignored')\n"
        "assert not t.is_progress_bar_enabled()\n"
        "print(logs.flush_pending() is not None)\n"
    )
    root = Path(__file__).resolve().parents[3]
    env = {"PYTHONPATH": str(root), "VTK_CACHE_DIR": str(tmp_path)}
    import os

    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env}
    )
    assert done.returncode == 0, done.stderr
    assert "generation flags" not in done.stderr and done.stdout.strip() == "True"
