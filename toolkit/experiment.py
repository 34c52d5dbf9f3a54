"""Experiments: a named set of rows (verbalizer x reasoner, trained or not) on one task set.

``run_experiment(config, out_dir)`` prepares the tasks, trains each distinct Stage 1 and
Stage 2 configuration once (a finished run found in ``out_dir/runs`` is reused, so an
interrupted experiment resumes), verbalizes the evaluation split once per verbalizer
(content-cached under ``out_dir/cache``), asks every reasoner (an LLM reader's answers are
cached there too, so a resumed row re-reads nothing), and hands the rows to
``toolkit.report.write_report``. Settings are chosen on the validation split by the user;
the experiment only ever *reports* on the split named in ``eval.split``, it tunes nothing.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from toolkit.cache import ContentStore
from toolkit.episodes import DEFAULT_WINDOW, Episode, build_episodes
from toolkit.filtering import DropCounts, kept_indices
from toolkit.records import Catalog
from toolkit.tasks import RerankExample, TaskSet

Table = Literal["1", "2", "ours", "context"]
FREE_TEXT = frozenset({"zero_shot"})
"""Verbalizers whose output no grammar bounds (they get ``eval.free_text_tokens``)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataSpec(_Strict):
    source: str = "synthetic"
    path: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    tasks: dict[str, Any] = Field(default_factory=dict)
    """``toolkit.tasks.TaskConfig`` fields (max_history, train_per_user, negatives, seed)."""


class EvalSpec(_Strict):
    split: Literal["val", "test"] = "test"
    limit: int | None = Field(40, ge=1)
    reasoners: list[str] = Field(default_factory=lambda: ["bm25", "embedding", "llm"])
    """Readers of every verbalizer row; a trained row is read by the held-out ones first,
    then by its Stage 1 oracle (labelled "oracle (trained against)")."""
    max_history: int | None = Field(None, ge=1)
    """The history view at evaluation (None: the task set's ``max_history``)."""
    shifts: int = Field(10, ge=1)
    """Cyclic shifts an LLM reader averages over (position-fair scoring)."""
    calibrate: Literal["none", "batch"] = "none"
    """``batch``: an LLM reader's slot probabilities are divided by their mean over the
    row's questions before picking (no extra forwards; see ``positions.batch_calibrate``)."""
    batch_size: int = Field(8, ge=1)
    free_text_tokens: int = Field(96, ge=8)
    """Budget of free-text (zero-shot) verbalizations; grammars bound the others."""
    n_boot: int = Field(1000, ge=0)
    examples: int = Field(3, ge=0)


class RowSpec(_Strict):
    """One configuration. ``train`` holds Stage 1 overrides (None: the verbalizer is used
    as is); ``reasoner_train`` trains a Stage 2 reasoner on ``template`` text or on this
    row's ``verbalizer`` text; ``scorer`` makes a non-LLM context row."""

    name: str
    table: Table = "1"
    verbalizer: str = "template"
    train: dict[str, Any] | None = None
    reasoner: str | None = None
    reasoner_train: Literal["template", "verbalizer"] | None = None
    reasoner_overrides: dict[str, Any] = Field(default_factory=dict)
    scorer: str | None = None
    compare_to: list[str] = Field(default_factory=list)
    """Earlier rows this one is also compared with, paired by example, under the same
    reader (e.g. a trained verbalizer against its untrained start)."""


class ExperimentConfig(_Strict):
    name: str = "experiment"
    seed: int = 0
    data: DataSpec = Field(default_factory=DataSpec)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    stage1: dict[str, Any] = Field(default_factory=dict)
    """Defaults of every Stage 1 run (a ``VerbalizerTrainConfig`` without data/output)."""
    stage2: dict[str, Any] = Field(default_factory=dict)
    rows: list[RowSpec]

    @model_validator(mode="after")
    def _check_stages(self) -> ExperimentConfig:
        """Validate every Stage 1/2 configuration the rows will run, before any training."""
        from pydantic import ValidationError

        from trainers.config import ReasonerTrainConfig, VerbalizerTrainConfig

        problems = []
        stub = {"data": {"tasks": "."}, "output_dir": "."}
        for row in self.rows:
            checks = []
            if row.train is not None:
                spec = deep_merge(deep_merge(self.stage1, row.train), stub)
                checks.append((VerbalizerTrainConfig, spec))
            if row.reasoner_train is not None:
                spec = deep_merge(deep_merge(self.stage2, row.reasoner_overrides), stub)
                checks.append((ReasonerTrainConfig, spec))
            for model, spec in checks:
                try:
                    model.model_validate(spec)
                except ValidationError as exc:
                    for err in exc.errors():
                        loc = ".".join(str(p) for p in err["loc"])
                        problems.append(f"row {row.name!r}: {loc}: {err['msg']}")
        seen: set[str] = set()
        for row in self.rows:
            problems += [
                f"row {row.name!r}: compare_to: {other!r} is not an earlier row"
                for other in row.compare_to
                if other not in seen
            ]
            seen.add(row.name)
        if problems:
            raise ValueError("; ".join(dict.fromkeys(problems)))
        return self


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` wins; nested dicts merge. ``deep_merge({"a": {"b": 1}}, {"a": {"c": 2}})``
    gives ``{"a": {"b": 1, "c": 2}}``."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _key(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:8]


class Runner:
    """Holds the caches of one experiment run (trained models, verbalizations, reasoners)."""

    def __init__(self, config: ExperimentConfig, out_dir: Path, *, progress: bool = True):
        self.config = config
        self.out = Path(out_dir)
        self.progress = progress
        self.tasks: TaskSet | None = None
        self.examples: list[RerankExample] = []
        self.episodes: list[Episode] = []
        self.store = ContentStore(self.out / "cache")
        self._trained: dict[str, Path] = {}  # run key (s1-... / s2-...) -> final model
        self._texts: dict[str, list[Any]] = {}
        self._reasoners: dict[str, Any] = {}
        self.training: list[dict[str, Any]] = []
        self.log_lines: list[str] = []

    def say(self, message: str) -> None:
        self.log_lines.append(message)
        if self.progress:
            from rich.console import Console

            Console(stderr=True).print(f"[bold cyan]vtk[/] {message}")

    # ---- data -----------------------------------------------------------------------
    def prepare(self) -> TaskSet:
        from toolkit.sources import read_source
        from toolkit.tasks import TaskConfig, prepare_tasks

        data = self.config.data
        task_dir = self.out / "tasks"
        if not (task_dir / "meta.json").is_file():
            dataset = read_source(data.source, data.path, **data.options)
            cfg = TaskConfig(**{"seed": self.config.seed, **data.tasks})
            prepare_tasks(dataset, task_dir, cfg)
        self.tasks = TaskSet.load(task_dir)
        examples = self.tasks.split(self.config.eval.split)
        limit = self.config.eval.limit
        examples = examples[:limit] if limit else examples
        self.episodes = build_episodes(examples, window=self.window, seed=self.config.seed)
        self.examples = [ep.example for ep in self.episodes]
        return self.tasks

    @property
    def window(self) -> int | None:
        """The history view: ``eval.max_history``, else the tasks' ``max_history``."""
        if self.config.eval.max_history is not None:
            return self.config.eval.max_history
        return self.config.data.tasks.get("max_history", DEFAULT_WINDOW)

    # ---- training -------------------------------------------------------------------
    def stage1(self, verbalizer: str, overrides: dict[str, Any], label: str = "") -> Path:
        from trainers.config import VerbalizerTrainConfig
        from trainers.stage1 import train_verbalizer

        spec = deep_merge(self.config.stage1, overrides)
        spec = deep_merge(spec, {"verbalizer": {"name": verbalizer}})
        key = f"s1-{verbalizer}-{_key(spec)}"
        what = f"Stage 1: training the {verbalizer} verbalizer ({key})"
        return self._train(
            key, spec, VerbalizerTrainConfig, train_verbalizer, "verbalizer", what, label
        )

    def stage2(
        self, text_from: str, model: Path | None, overrides: dict[str, Any], label: str = ""
    ) -> Path:
        from trainers.config import ReasonerTrainConfig
        from trainers.stage2 import train_reasoner

        frozen = {"name": text_from, "model": str(model) if model else None}
        spec = deep_merge(deep_merge(self.config.stage2, overrides), {"verbalizer": frozen})
        key = f"s2-{text_from}-{_key(spec)}"
        what = f"Stage 2: training the reasoner on {text_from} text ({key})"
        return self._train(key, spec, ReasonerTrainConfig, train_reasoner, "reasoner", what, label)

    def _train(
        self,
        key: str,
        spec: dict[str, Any],
        config_cls: Any,
        train: Any,
        stage: str,
        what: str,
        label: str = "",
    ) -> Path:
        """Train one stage configuration once per experiment (a finished run in
        ``runs/<key>`` is reused) and return its final model folder."""
        from trainers.run import FINAL

        if key in self._trained:
            return self._trained[key]
        out = self.out / "runs" / key
        # training is shown the same history window as evaluation
        spec = deep_merge(
            spec, {"data": {"tasks": str(self.out / "tasks"), "max_history": self.window}}
        )
        spec["output_dir"] = str(out)
        config = config_cls.model_validate(spec)
        if not (out / FINAL / "vtk.json").is_file():
            self.say(what)
            train(config, overwrite=True, progress=self.progress)
        self._record_curve(key, stage, out, label)
        self._trained[key] = out / FINAL
        return out / FINAL

    def _record_curve(self, name: str, stage: str, out: Path, label: str = "") -> None:
        """The run's metrics per step, shown under ``label`` (the first row that trained
        it) and kept under its key ``name``."""
        from trainers.run import METRICS

        if any(t["key"] == name for t in self.training):
            return
        curve = []
        path = out / METRICS
        if path.is_file():
            for line in path.read_text().splitlines():
                row = json.loads(line)
                if "reward" in row and "step" in row:
                    curve.append(row)
        self.training.append({"name": label or name, "key": name, "stage": stage, "curve": curve})

    # ---- verbalize and answer -------------------------------------------------------
    def verbalize(self, name: str, model: Path | None) -> list[dict[str, Any]]:
        """Verbalization rows of the episodes (content-cached under ``out/cache``)."""
        from toolkit.pipeline import verbalize_named

        key = f"{name}@{model}"
        if key in self._texts:
            return self._texts[key]
        assert self.tasks is not None
        ev = self.config.eval
        self.say(f"verbalizing {len(self.episodes)} examples with {name}")
        rows = verbalize_named(
            self.episodes,
            self.tasks,
            name,
            model=str(model) if model else None,
            store=self.store,
            batch_size=ev.batch_size,
            seed=self.config.seed,
            # grammars bound their own outputs; only free text needs a budget
            max_new_tokens=ev.free_text_tokens if name in FREE_TEXT else None,
            progress=self.progress,
        )
        self._texts[key] = rows
        return rows

    def reasoner(self, name: str, model: Path | None = None) -> Any:
        from toolkit.reasoners import build_reasoner, reader_options

        key = f"{name}@{model}"
        if key not in self._reasoners:
            assert self.tasks is not None
            self._reasoners[key] = build_reasoner(
                name,
                self.tasks.catalog,
                model=str(model) if model else None,
                seed=self.config.seed,
                batch_size=self.config.eval.batch_size,
                domain=self.tasks.domain,
                options=reader_options(name, self.config.eval.shifts, self.config.eval.calibrate),
            )
        return self._reasoners[key]


def _mean(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def strategies(verbalizations: list[Any], examples: list[RerankExample], catalog: Catalog) -> dict:
    """What a verbalizer did: kept/dropped interactions (a rewrite "keeps" the interactions
    of the titles it names), aggregated runs, enrichment fields, preferences, and how often
    it dropped the interactions a source flags as noise vs signal."""
    kept_total = dropped_total = runs = prefs = 0
    enriched: dict[str, int] = {}
    drops = DropCounts()
    for v, ex in zip(verbalizations, examples, strict=True):
        meta = v["meta"] if isinstance(v, dict) else v.meta
        kept = kept_indices(meta, ex.history, catalog)
        if "rewrite" in meta:
            prefs += len(meta["rewrite"]["preferences"])
        runs += int(meta.get("aggregated_runs", 0) or 0)
        for f, c in (meta.get("enriched_fields") or {}).items():
            enriched[f] = enriched.get(f, 0) + c
        kept_total += len(kept)
        dropped_total += len(ex.history) - len(kept)
        drops.add(kept, ex.history)
    return {
        "kept": kept_total,
        "dropped": dropped_total,
        "aggregated_runs": runs,
        "enriched_fields": enriched,
        "preferences": prefs,
        "noise_drop_rate": drops.noise_rate,
        "signal_drop_rate": drops.signal_rate,
    }


def run_experiment(
    config: ExperimentConfig,
    out_dir: str | Path,
    *,
    config_path: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run every row and write the report; return the results dict (``report.json``)."""
    from toolkit.pipeline import POLICIES, evaluate_row, scorer_row

    started = time.time()
    runner = Runner(config, Path(out_dir), progress=progress)
    tasks = runner.prepare()
    ex = runner.examples
    eps = runner.episodes
    runner.say(f"{len(ex)} {config.eval.split} examples from {config.data.source}")
    rows: list[dict[str, Any]] = []
    results: dict[str, Any] = {}  # row name -> EvalResult
    by_reader: dict[tuple[str, str], Any] = {}  # (config row, reader) -> EvalResult
    compression: dict[str, list[float]] = {}
    strategy: dict[str, Any] = {}
    samples: dict[str, list[str]] = {}
    labels: dict[str, str] = {}
    nb, seed = config.eval.n_boot, config.seed

    def snapshot(done: int) -> dict[str, Any]:
        """The results of the configurations run so far, written as the report
        (marked partial until every configuration has run)."""
        from toolkit.report import write_report

        examples = [
            {
                "example_id": e.example_id,
                "raw": runner.verbalize("template", None)[k]["text"],
                "outputs": {label: texts[k] for label, texts in samples.items()},
            }
            for k, e in enumerate(ex[: config.eval.examples])
        ]
        out = {
            "name": config.name,
            "partial": done < len(config.rows),
            "config_path": config_path,
            "machine": machine(),
            "started": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
            "wall_s": time.time() - started,
            "data": {
                "source": config.data.source,
                "split": config.eval.split,
                "n_eval": len(ex),
                "max_history": tasks.meta.get("config", {}).get("max_history"),
                "window": runner.window,
                "shifts": config.eval.shifts,
                "calibrate": config.eval.calibrate,
                "domain": tasks.domain,
            },
            "rows": rows,
            "training": runner.training,
            "compression": compression,
            "examples": examples,
            "strategies": strategy,
            "policies": POLICIES,
            "notes": [
                f"Every number comes from this run on {len(ex)} {config.eval.split} examples, "
                f"each verbalizer shown the last {runner.window} interactions; intervals are "
                "95% bootstrap intervals over examples.",
                "Relative change (ratio of means) compares Recall@1 on discovery targets with "
                "the template verbalizer read by the same (untrained) reader, paired by example "
                "(paired bootstrap; exact McNemar p on 0/1 hits, a paired sign-flip test where a "
                "reader credits ties); a change over a baseline of 0 is undefined.",
                "LLM readers are position-fair: label log-probs averaged over "
                f"{config.eval.shifts} cyclic shifts of each example's candidate order"
                + (
                    ", then batch-calibrated (each shown slot's probability divided by its "
                    "mean over the row's questions; no target is read)."
                    if config.eval.calibrate == "batch"
                    else "."
                ),
            ],
        }
        if out["partial"]:
            out["notes"].insert(
                0,
                f"Partial report: {done} of {len(config.rows)} configurations have run; "
                "the run is still going or was stopped (run it again with the same --out "
                "to resume: finished training runs and verbalizations are reused).",
            )
        out["report"] = str(write_report(out, Path(out_dir)))
        return out

    for i, spec in enumerate(config.rows, 1):
        if i > 1:  # what has run so far is readable while the rest runs
            snapshot(i - 1)
        runner.say(f"row {i}/{len(config.rows)}: {spec.name}")
        t0 = time.time()
        if spec.scorer is not None:
            from toolkit.baselines import BASELINES

            scorer = BASELINES.get(spec.scorer)(seed=seed).fit(tasks.split("train"), tasks.catalog)
            res = scorer_row(spec.name, eps, scorer, n_boot=nb, seed=seed)
            rows.append(_row(spec, spec.scorer, "-", res, None, None, {"wall_s": time.time() - t0}))
            results[spec.name] = res
            continue
        v_model = (
            runner.stage1(spec.verbalizer, spec.train, spec.name)
            if spec.train is not None
            else None
        )
        texts = runner.verbalize(spec.verbalizer, v_model)
        # one label per distinct verbalization: the verbalizer's name, or for a trained model
        # the name of the first row that trained it (ablations train different models)
        label = labels.setdefault(
            f"{spec.verbalizer}@{v_model}", spec.name if v_model else spec.verbalizer
        )
        compression[label] = [v["compression"] for v in texts if v["compression"] is not None]
        if any("kept" in v["meta"] or "rewrite" in v["meta"] for v in texts):
            strategy.setdefault(label, strategies(texts, ex, tasks.catalog))
        samples.setdefault(label, [v["text"] for v in texts[: config.eval.examples]])
        oracle = _oracle(config, spec)
        reasoners: list[tuple[str, Path | None]] = []
        if spec.reasoner_train is not None:
            text_from = "template" if spec.reasoner_train == "template" else spec.verbalizer
            r_model = runner.stage2(
                text_from,
                v_model if text_from != "template" else None,
                spec.reasoner_overrides,
                spec.name,
            )
            reasoners.append(("llm", r_model))
        else:
            names = [spec.reasoner] if spec.reasoner else config.eval.reasoners
            # held-out readers first, the oracle the verbalizer was trained against last
            names = sorted(names, key=lambda n: n == oracle)
            reasoners += [(n, None) for n in names]
        for r_name, r_model in reasoners:
            t1 = time.time()
            reasoner = runner.reasoner(r_name, r_model)
            name = spec.name if len(reasoners) == 1 else f"{spec.name} | {r_name}"
            res = evaluate_row(
                name,
                eps,
                texts,
                reasoner,
                batch_size=config.eval.batch_size,
                n_boot=nb,
                seed=seed,
                progress=progress and r_name == "llm",  # the other readers take seconds
                store=runner.store,  # an LLM reader's answers survive a resume
            )
            results[name] = res
            by_reader[(spec.name, r_name)] = res
            base_name = _baseline_name(config, r_name)
            base = results.get(base_name)
            change = comparison = None
            if base is not None and base is not res:
                paired = _paired(res, base, nb, seed)
                change, comparison = paired.change.to_json(), paired.to_json()
            extras = {
                **{k: v for k, v in res.extras.items() if k not in ("compression", "tokens")},
                "compression": _mean(compression[label]),
                "tokens": _mean([v["tokens"] for v in texts]),
                "wall_s": time.time() - t1 + (t1 - t0 if r_name == reasoners[0][0] else 0),
                "oracle": r_name == oracle,
            }
            trained = {
                "verbalizer": str(v_model) if v_model else None,
                "reasoner": str(r_model) if r_model else None,
            }
            # the report marks trained components itself ("rewrite (trained)")
            row = _row(spec, spec.verbalizer, r_name, res, change, base_name, extras, trained)
            row["comparison"] = comparison
            row["comparisons"] = _comparisons(spec, res, r_name, by_reader, nb, seed)
            rows.append(row)
    out = snapshot(len(config.rows))
    from toolkit.report import summary_lines

    out["summary"] = summary_lines(out, Path(out["report"]))
    return out


def _comparisons(
    spec: RowSpec,
    res: Any,
    reader: str,
    by_reader: dict[tuple[str, str], Any],
    n_boot: int,
    seed: int,
) -> list[dict[str, Any]]:
    """Paired comparisons with the rows named in ``compare_to``, each as read by the same
    reader (a row that was not read by this reader is left out)."""
    out = []
    for other in spec.compare_to:
        base = by_reader.get((other, reader))
        if base is not None:
            out.append({"against": base.name, **_paired(res, base, n_boot, seed).to_json()})
    return out


def _paired(res: Any, base: Any, n_boot: int, seed: int) -> Any:
    """One row against another on the same episodes: hits on discovery targets, paired."""
    from toolkit.stats import paired_comparison

    hits = [o.hit for o in res.outcomes if o.discovery]
    base_hits = [o.hit for o in base.outcomes if o.discovery]
    return paired_comparison(hits, base_hits, n_boot=n_boot, seed=seed)


def _oracle(config: ExperimentConfig, spec: RowSpec) -> str | None:
    """The reader a trained verbalizer row was trained against (its Stage 1 oracle)."""
    if spec.train is None:
        return None
    merged = deep_merge(config.stage1, spec.train)
    return (merged.get("oracle") or {}).get("name", "embedding")


def _baseline_name(config: ExperimentConfig, reasoner: str) -> str:
    """The template row read by the same untrained reasoner."""
    for spec in config.rows:
        untrained = spec.train is None and spec.reasoner_train is None and spec.scorer is None
        if spec.verbalizer == "template" and untrained:
            names = [spec.reasoner] if spec.reasoner else config.eval.reasoners
            if reasoner in names:
                return spec.name if len(names) == 1 else f"{spec.name} | {reasoner}"
    return ""


def _row(
    spec: RowSpec,
    verbalizer: str,
    reasoner: str,
    res: Any,
    change: dict | None,
    baseline: str | None,
    extras: dict[str, Any],
    trained: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "name": res.name,
        "table": spec.table,
        "verbalizer": verbalizer,
        "reasoner": reasoner,
        "trained": trained or {"verbalizer": None, "reasoner": None},
        "metrics": {k: m.to_json() for k, m in res.metrics.items()},
        "change": change,
        "baseline": baseline or None,
        "extras": extras,
    }


def machine() -> str:
    import os

    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    return f"{os.cpu_count()}-core {platform.machine()} {device}, torch {torch.__version__}"
