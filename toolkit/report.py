"""The experiment report: Markdown for people, JSON for programs, PNG plots for the eye.

``write_report`` turns the runner's results dict into ``report.md``, ``report.json`` and up to
three plots in ``out_dir``. Every verdict it prints (beat / indistinguishable / worse, flagged
position bias, "drops noise more often than signal") is computed from the numbers it is given,
so a report can never claim more than its intervals support. Each file is written atomically;
other files already in ``out_dir`` are left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from toolkit.io import atomic_file, write_json

DASH = "–"
DISCOVERY = "recall@1/discovery"
TABLES = (
    ("1", "Table 1"),
    ("2", "Table 2"),
    ("ours", "Our rows"),
    ("context", "Context (non-LLM baselines)"),
)
COLORS = {"1": "tab:blue", "2": "tab:orange", "ours": "tab:green", "context": "tab:gray"}
EXAMPLE_CHARS = 280


# ----------------------------------------------------------------------------- formatting


def fmt_num(value: float | None, digits: int = 3) -> str:
    """A number, or an en dash when it is missing.

    >>> fmt_num(0.31234), fmt_num(None)
    ('0.312', '–')
    """
    return DASH if value is None else f"{value:.{digits}f}"


def fmt_ci(metric: dict[str, Any] | None, *, pct: bool = False) -> str:
    """``value [lo, hi]``; signed percentages with ``pct`` (for relative changes).

    >>> fmt_ci({"value": 0.125, "lo": -0.02, "hi": 0.3}, pct=True)
    '+12.5% [-2.0%, +30.0%]'
    >>> fmt_ci({"value": 0.5, "lo": None, "hi": None}), fmt_ci(None)
    ('0.500', '–')
    """
    if not metric or metric.get("value") is None:
        return DASH

    def one(x: float) -> str:
        return f"{x:+.1%}" if pct else f"{x:.3f}"

    text = one(metric["value"])
    if metric.get("lo") is not None and metric.get("hi") is not None:
        text += f" [{one(metric['lo'])}, {one(metric['hi'])}]"
    return text


def fmt_secs(seconds: float | None) -> str:
    """Seconds, or minutes and seconds once there are more than 60.

    >>> fmt_secs(75.2), fmt_secs(3.14)
    ('1m 15s', '3.1 s')
    """
    if seconds is None:
        return DASH
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes // 60}h {minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m {secs:02d}s"


def cell(text: object, limit: int | None = None) -> str:
    """Text safe inside a Markdown table cell: pipes escaped, newlines as ``<br>``.

    >>> cell("a|b\\nc")
    'a\\\\|b<br>c'
    """
    text = DASH if text is None else str(text)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text.replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def _pct(value: float | None) -> str:
    return DASH if value is None else f"{value:.0%}"


def _int(value: object) -> str:
    return DASH if value is None else str(value)


def _nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _table(header: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in body]


# ------------------------------------------------------------------------------ verdicts


def verdict(change: dict[str, Any] | None) -> str:
    """``beat`` (interval above 0), ``worse`` (below 0), ``indistinguishable`` (spans 0), or
    ``untested`` when there is no interval to judge by.

    >>> verdict({"value": 0.1, "lo": 0.02, "hi": 0.2}), verdict({"value": 0, "lo": -1, "hi": 1})
    ('beat', 'indistinguishable')
    """
    if not change or change.get("lo") is None or change.get("hi") is None:
        return "untested"
    if change["lo"] > 0:
        return "beat"
    if change["hi"] < 0:
        return "worse"
    return "indistinguishable"


_PAIRED = {"beats": "beat", "worse": "worse", "no difference": "indistinguishable"}


def row_verdict(row: dict[str, Any]) -> str:
    """A row's verdict against its baseline: from its paired comparison (difference interval
    and paired p) when it has one, else from the change's interval.

    >>> row_verdict({"comparison": {"verdict": "beats"}, "change": None})
    'beat'
    """
    comparison = row.get("comparison")
    if comparison and comparison.get("verdict") in _PAIRED:
        return _PAIRED[comparison["verdict"]]
    return verdict(row.get("change"))


def fmt_change(row: dict[str, Any]) -> str:
    """The relative change with its interval and paired p; "undefined" over a 0 baseline.

    >>> fmt_change({"comparison": {"change_defined": False}, "change": {"value": None}})
    'undefined (baseline 0)'
    """
    comparison = row.get("comparison") or {}
    if comparison and not comparison.get("change_defined", True):
        return "undefined (baseline 0)"
    text = fmt_ci(row.get("change"), pct=True)
    if comparison.get("p_value") is not None:
        text += f", p={comparison['p_value']:.2g}"
    return text


def _reader(row: dict[str, Any]) -> str:
    name = _component(row, "reasoner")
    return f"{name}, oracle (trained against)" if (row.get("extras") or {}).get("oracle") else name


def _trained(row: dict[str, Any]) -> list[str]:
    return [k for k, v in (row.get("trained") or {}).items() if v]


def _component(row: dict[str, Any], key: str) -> str:
    name = row.get(key) or DASH
    return f"{name} (trained)" if (row.get("trained") or {}).get(key) else name


# -------------------------------------------------------------------------------- sections


def _summary(results: dict[str, Any]) -> list[str]:
    data = results.get("data") or {}
    details = ", ".join(
        f"{k.replace('_', ' ')} {data[k]}"
        for k in ("split", "max_history", "window", "shifts", "calibrate")
        if k in data and data[k] != "none"
    )
    text = (
        f"Run on {results.get('machine') or 'an unknown machine'}, started "
        f"{results.get('started') or DASH}, wall time {fmt_secs(results.get('wall_s'))}. "
        f"Data: {data.get('source') or DASH}" + (f" ({details})" if details else "") + ", "
        f"{data.get('n_eval', DASH)} evaluation examples; "
        f"{len(results.get('rows') or [])} rows. Intervals are 95% bootstrap intervals; "
        "relative changes are in Recall@1 on discovery targets against each row's baseline."
    )
    if results.get("config_path"):
        text += f" Config: `{results['config_path']}`."
    policies = results.get("policies") or {}
    if policies:
        text += " Policies: " + "; ".join(f"{k}: {v}" for k, v in policies.items()) + "."
    head = [f"# Experiment report: {results.get('name') or 'unnamed'}", ""]
    if results.get("partial"):
        head += [f"**{results['notes'][0]}**", ""]
    return [*head, text, ""]


def _row_cells(row: dict[str, Any]) -> list[str]:
    metrics, extras = row.get("metrics") or {}, row.get("extras") or {}
    change = fmt_change(row)
    if row.get("change") and row.get("baseline"):
        change += f" vs {row['baseline']}"
    valid = (metrics.get("valid") or {}).get("value", extras.get("valid_rate"))
    return [
        cell(row.get("name")),
        cell(_component(row, "verbalizer")),
        cell(_reader(row)),
        fmt_ci(metrics.get(DISCOVERY)),
        cell(change),
        fmt_ci(metrics.get("recall@1")),
        _pct(valid),
        fmt_num(extras.get("compression"), 2),
        fmt_num(extras.get("tokens"), 1),
        fmt_secs(extras.get("wall_s")),
    ]


ROW_HEADER = (
    "Row", "Verbalizer", "Reasoner", "Recall@1 discovery [95% CI]", "Change vs baseline [95% CI]",
    "Recall@1", "Valid", "Compression", "Tokens", "Wall",
)  # fmt: skip


def _tables(rows: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for key, title in TABLES:
        chosen = [r for r in rows if str(r.get("table")) == key]
        if chosen:
            out += [f"## {title}", "", *_table(ROW_HEADER, [_row_cells(r) for r in chosen]), ""]
    return out


def _honesty(rows: list[dict[str, Any]]) -> list[str]:
    out = ["## Honesty", ""]
    phrases = {
        "beat": "**beat** {b} (paired difference interval above 0 and paired p < 0.05)",
        "indistinguishable": "is **indistinguishable** from {b} (no paired test rejects 0)",
        "worse": "was **worse** than {b} (paired difference interval below 0, p < 0.05)",
        "untested": "has **no interval** against {b}, so no claim is made",
    }
    trained = [r for r in rows if _trained(r)]
    for row in trained:
        base = f"`{row['baseline']}`" if row.get("baseline") else "a baseline"
        what = " and ".join(_trained(row))
        change = fmt_change(row)
        if (row.get("extras") or {}).get("oracle"):
            out.append(
                f"- `{row['name']}` (trained {what}) is read by the oracle it was trained "
                f"against: change {change}; this measures fit to the judge, not a verdict."
            )
            continue
        text = phrases[row_verdict(row)].format(b=base)
        out.append(f"- `{row['name']}` (trained {what}) {text}: change {change}.")
    if not trained:
        out.append("No row has a trained component.")
    return [*out, ""]


def _comparisons(rows: list[dict[str, Any]]) -> list[str]:
    """The rows' ``compare_to`` cells: paired difference, relative change, paired p."""
    body = []
    for row in rows:
        for c in row.get("comparisons") or []:
            change = (
                fmt_ci(c.get("change"), pct=True)
                if c.get("change_defined", True)
                else "undefined (baseline 0)"
            )
            body.append(
                [
                    cell(row["name"]),
                    cell(c["against"]),
                    _int(c.get("n")),
                    fmt_ci(c.get("diff")),
                    change,
                    f"{c['p_value']:.2g}" if c.get("p_value") is not None else DASH,
                    cell(c.get("verdict")),
                ]
            )
    if not body:
        return []
    header = ("Row", "Against", "n", "Difference [95% CI]", "Change", "Paired p", "Verdict")
    return ["## Paired comparisons", "", *_table(header, body), ""]


def _positions(rows: list[dict[str, Any]]) -> list[str]:
    body = []
    for row in rows:
        pos = (row.get("extras") or {}).get("positions")
        if not pos or not pos.get("counts"):
            continue
        total = sum(pos["counts"]) or 1
        dist = " ".join(f"{i}:{c / total:.0%}" for i, c in enumerate(pos["counts"]))
        flag = "**flagged**: " + "; ".join(pos.get("reasons") or ["concentrated"])
        extras = row.get("extras") or {}
        single = extras.get("single_order_recall@1")
        body.append(
            [
                cell(row["name"]),
                cell(row.get("reasoner")),
                dist,
                _pct(extras.get("first_position_share")),
                _pct(extras.get("single_order_first_position_share")),
                fmt_num(single),
                _pct(pos.get("max_share")),
                flag if pos.get("flagged") else "ok",
            ]
        )
    if not body:
        return ["## Position bias", "", "No position statistics were recorded.", ""]
    header = (
        "Row", "Reasoner", "Share of picks by shown position", "First slot",
        "First slot, single order", "Recall@1, single order", "Max share", "Verdict",
    )  # fmt: skip
    return ["## Position bias", "", *_table(header, body), ""]


def _strategies(strategies: dict[str, dict[str, Any]]) -> list[str]:
    if not strategies:
        return []
    body, lines = [], []
    for name, s in strategies.items():
        fields = ", ".join(f"{k} ({v})" for k, v in (s.get("enriched_fields") or {}).items())
        noise, signal = s.get("noise_drop_rate"), s.get("signal_drop_rate")
        body.append(
            [
                cell(name),
                *(_int(s.get(k)) for k in ("dropped", "kept", "aggregated_runs")),
                cell(fields or DASH),
                _int(s.get("preferences")),
                _pct(noise),
                _pct(signal),
            ]
        )
        if noise is not None and signal is not None:
            yes = "yes" if noise > signal else "no"
            lines.append(
                f"- `{name}` drops noise more often than signal: {yes} "
                f"(noise {noise:.0%}, signal {signal:.0%})."
            )
    header = ("Row", "Dropped", "Kept", "Aggregated runs", "Enriched fields", "Preferences",
              "Noise dropped", "Signal dropped")  # fmt: skip
    return ["## Strategies", "", *_table(header, body), "", *([*lines, ""] if lines else [])]


def _examples(examples: list[dict[str, Any]]) -> list[str]:
    if not examples:
        return []
    names = list(dict.fromkeys(n for ex in examples for n in ex.get("outputs") or {}))
    body = [
        [cell(ex.get("example_id")), cell(ex.get("raw"), EXAMPLE_CHARS)]
        + [cell((ex.get("outputs") or {}).get(n), EXAMPLE_CHARS) for n in names]
        for ex in examples
    ]
    header = ["Example", "Raw history (excerpt)", *(cell(n) for n in names)]
    return ["## Examples", "", *_table(header, body), ""]


# ----------------------------------------------------------------------------------- plots


def _save(fig: Any, path: Path) -> Path:
    """Save a figure through ``atomic_file``: no half-written PNGs, permissions per umask."""
    import matplotlib.pyplot as plt

    try:
        with atomic_file(path, "wb") as fh:
            fig.savefig(fh, format="png", dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def _figure(ncols: int, width: float = 5.0) -> tuple[Any, list[Any]]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, 3.8), squeeze=False)
    return fig, list(axes[0])


CURVE_PANELS: tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...] = (
    ("reward / accuracy", (("reward", "-", "reward"), ("accuracy", "--", "acc."))),
    ("compression", (("verbalizer/compression", "-", "compression"),)),
    (
        "share dropped",
        (("verbalizer/noise_dropped", "-", "noise"), ("verbalizer/signal_dropped", ":", "signal")),
    ),
)
"""Panels of the training plot: a title and (metric, line style, label) per curve; a panel
no run logged is left out (noise/signal only exist on sources that flag them)."""


def smoothing_window(n_points: int) -> int:
    """Trailing-mean window of a training curve: none below 10 steps, else about a sixth.

    >>> [smoothing_window(n) for n in (2, 9, 10, 30, 300)]
    [1, 1, 3, 5, 25]
    """
    return 1 if n_points < 10 else min(25, max(3, n_points // 6))


def moving_mean(values: list[float], k: int) -> list[float]:
    """Trailing mean over the last ``k`` values (fewer at the start); NaN values skipped.

    >>> moving_mean([1.0, 3.0, 5.0, float("nan"), 7.0], 2)
    [1.0, 2.0, 4.0, 5.0, 7.0]
    """
    out = []
    for i in range(len(values)):
        window = [v for v in values[max(0, i - k + 1) : i + 1] if v == v]
        out.append(sum(window) / len(window) if window else float("nan"))
    return out


def plot_training(training: list[dict[str, Any]] | None, path: Path) -> Path | None:
    """One row of panels per stage: reward (solid) and oracle accuracy (dashed), the
    compression ratio, and the share of noise and of signal interactions dropped, per step
    (from 10 steps on, each curve faint with its trailing mean drawn over it)."""
    runs = [t for t in training or [] if t.get("curve")]
    if not runs:
        return None
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    stages = list(dict.fromkeys(t.get("stage") or "training" for t in runs))

    def logged(stage: str, keys: tuple[tuple[str, str, str], ...]) -> bool:
        return any(
            p.get(k) is not None
            for t in runs
            if (t.get("stage") or "training") == stage
            for p in t["curve"]
            for k, _, _ in keys
        )

    panels = {s: [(t, k) for t, k in CURVE_PANELS if logged(s, k)] for s in stages}
    ncols = max(len(v) for v in panels.values())
    fig, grid = plt.subplots(
        len(stages), ncols, figsize=(5.0 * ncols, 3.8 * len(stages)), squeeze=False
    )
    for row, stage in zip(grid, stages, strict=True):
        for ax in row[len(panels[stage]) :]:
            ax.set_visible(False)
        for ax, (title, keys) in zip(row, panels[stage], strict=False):
            for run in (t for t in runs if (t.get("stage") or "training") == stage):
                color = None
                for key, style, label in keys:
                    pts = [p for p in run["curve"] if p.get(key) is not None]
                    if not pts:
                        continue
                    steps = [p["step"] for p in pts]
                    values = [_nan(p[key]) for p in pts]
                    name = f"{run['name']} {label}" if len(keys) > 1 else run["name"]
                    k = smoothing_window(len(pts))
                    if k > 1:  # a step reads few prompts: the raw curve faint, its mean bold
                        (line,) = ax.plot(steps, values, style, color=color, alpha=0.25)
                        color = line.get_color()
                        values, name = moving_mean(values, k), f"{name} (mean of {k})"
                    (line,) = ax.plot(steps, values, style, color=color, label=name)
                    color = line.get_color()
            ax.set(title=f"{stage}: {title}", xlabel="step", ylabel=title)
            ax.legend(fontsize="x-small")
    return _save(fig, path)


def plot_compression(compression: dict[str, list[float]] | None, path: Path) -> Path | None:
    """One histogram of compression ratios per verbalizer row."""
    series = {k: v for k, v in (compression or {}).items() if v}
    if not series:
        return None
    fig, axes = _figure(len(series), width=3.5)
    for ax, (name, ratios) in zip(axes, series.items(), strict=True):
        ax.hist(ratios, bins=min(20, max(5, len(ratios) // 3)), color="tab:blue")
        ax.set(title=name, xlabel="compression ratio", ylabel="examples")
    return _save(fig, path)


def plot_recall(rows: list[dict[str, Any]] | None, path: Path) -> Path | None:
    """Recall@1 on discovery targets with its interval, one bar per row, colored by table."""
    bars = [r for r in rows or [] if ((r.get("metrics") or {}).get(DISCOVERY) or {}).get("value")
            is not None]  # fmt: skip
    if not bars:
        return None
    fig, (ax,) = _figure(1, width=max(5.0, 0.6 * len(bars)))
    metrics = [r["metrics"][DISCOVERY] for r in bars]
    values = [m["value"] for m in metrics]
    low = [m["value"] - (m["lo"] if m.get("lo") is not None else m["value"]) for m in metrics]
    high = [(m["hi"] if m.get("hi") is not None else m["value"]) - m["value"] for m in metrics]
    err = [low, high]
    colors = [COLORS.get(str(r.get("table")), "tab:purple") for r in bars]
    ax.bar(range(len(bars)), values, yerr=err, color=colors, capsize=3)
    ax.set_xticks(range(len(bars)), [r["name"] for r in bars], rotation=45, ha="right")
    ax.set(ylabel="Recall@1 (discovery)", title="Recall@1 on discovery targets, 95% CI")
    import matplotlib.patches as mpatches

    seen = dict.fromkeys(str(r.get("table")) for r in bars)
    ax.legend(
        handles=[
            mpatches.Patch(color=COLORS.get(t, "tab:purple"), label=dict(TABLES).get(t, t))
            for t in seen
        ]
    )
    return _save(fig, path)


PLOTS: dict[str, tuple[str, Callable[[Any, Path], Path | None]]] = {
    "training_curves.png": ("training", plot_training),
    "compression_hist.png": ("compression", plot_compression),
    "recall_bars.png": ("rows", plot_recall),
}


# ------------------------------------------------------------------------------ entry points


def write_report(results: dict[str, Any], out_dir: Path) -> Path:
    """Write report.md, report.json and the plots into ``out_dir``; return report.md's path.

    A plot whose data is empty is skipped (and a stale copy from an earlier run removed)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "report.json", results)
    plots = []
    for filename, (key, plot) in PLOTS.items():
        if plot(results.get(key), out_dir / filename):
            plots.append(filename)
        else:
            (out_dir / filename).unlink(missing_ok=True)
    rows = results.get("rows") or []
    lines = _summary(results) + _tables(rows) + _honesty(rows) + _comparisons(rows)
    lines += _positions(rows)
    lines += _strategies(results.get("strategies") or {}) + _examples(results.get("examples") or [])
    if results.get("notes"):
        lines += ["## Notes", "", *(f"- {n}" for n in results["notes"]), ""]
    if plots:
        lines += ["## Plots", "", *(f"![{p[:-4]}]({p})" for p in plots), ""]
    path = out_dir / "report.md"
    with atomic_file(path) as fh:
        fh.write("\n".join(lines).rstrip() + "\n")
    return path


def summary_lines(results: dict[str, Any], report_path: Path | None = None) -> list[str]:
    """A few console lines: the best learned row against its baseline, and where the report is."""
    rows = results.get("rows") or []

    def score(row: dict[str, Any]) -> float:
        value = ((row.get("metrics") or {}).get(DISCOVERY) or {}).get("value")
        return float("-inf") if value is None else value

    learned = [r for r in rows if _trained(r) and not (r.get("extras") or {}).get("oracle")]
    lines = []
    if learned:
        best = max(learned, key=score)
        base = next((r for r in rows if r.get("name") == best.get("baseline")), None)
        lines.append(
            f"best learned row: {best['name']}: Recall@1 discovery "
            f"{fmt_ci(best['metrics'].get(DISCOVERY))}"
            + (f" vs {base['name']} {fmt_ci(base['metrics'].get(DISCOVERY))}" if base else "")
        )
        lines.append(f"change {fmt_change(best)}: {row_verdict(best)}")
    else:
        lines.append(f"no learned rows; {len(rows)} rows evaluated")
    if report_path is not None:
        lines.append(f"report: {report_path}")
    return lines
