"""Plain-text views for the terminal: aligned tables, no extra dependency."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from hpo.metrics import METRIC_NAMES

COLUMNS = (*METRIC_NAMES, "fit_seconds")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1e4 else f"{value:.4g}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]

    def line(parts: Sequence[str]) -> str:
        return "  ".join(p.ljust(w) for p, w in zip(parts, widths, strict=True)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, cells)])


def trials_table(records: Sequence[Any], objective: str) -> str:
    if not records:
        return "no trials"
    param_names = sorted({k for r in records for k in r.params})
    headers = ["trial", "state", *COLUMNS, *param_names]
    rows = [
        [
            r.trial,
            r.state,
            *(r.metrics.get(c, "") for c in COLUMNS),
            *(r.params.get(p, "") for p in param_names),
        ]
        for r in records
    ]
    return table(headers, rows) + f"\n(sorted by {objective})"


def trials_csv(records: Sequence[Any]) -> str:
    param_names = sorted({k for r in records for k in r.params})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["trial", "run_id", "state", *COLUMNS, *param_names])
    for r in records:
        writer.writerow(
            [
                r.trial,
                r.run_id,
                r.state,
                *(r.metrics.get(c, "") for c in COLUMNS),
                *(r.params.get(p, "") for p in param_names),
            ]
        )
    return out.getvalue()


def _kv(pairs: Mapping[str, Any], indent: str = "  ") -> str:
    width = max((len(k) for k in pairs), default=0)
    return "\n".join(f"{indent}{k.ljust(width)}  {_fmt(v)}" for k, v in pairs.items())


def best_text(info: Any, record: Any) -> str:
    metrics = {k: record.metrics[k] for k in METRIC_NAMES if k in record.metrics}
    return (
        f"study {info.study}: best trial {record.trial} by {info.objective} (run {record.run_id})\n"
        f"metrics:\n{_kv(metrics)}\nparams:\n{_kv(record.params)}"
    )


def pareto_text(info: Any, front: Sequence[Any], metrics: Sequence[str]) -> str:
    rows = [[r.trial, *(r.metrics.get(m, "") for m in metrics), r.run_id] for r in front]
    return (
        f"study {info.study}: Pareto set of {len(front)} trial(s) "
        f"({info.objectives.replace(',', ', ')})\n" + table(["trial", *metrics, "run_id"], rows)
    )


def sweep_text(summary: Any) -> str:
    states = ", ".join(f"{v} {k.lower()}" for k, v in summary.states.items())
    lines = [
        f"study {summary.study} ({summary.strategy}) in experiment {summary.experiment}: {states}",
        f"sweep run {summary.sweep_run_id}",
    ]
    if summary.best is None:
        lines.append("no completed trial")
    else:
        best = summary.best.to_json()
        lines.append(f"best trial {best['trial']} (run {best['run_id']}):")
        lines.append(_kv({k: v for k, v in best["metrics"].items() if v is not None}))
        lines.append("params:")
        lines.append(_kv(best["params"]))
    return "\n".join(lines)


def validation_text(summary: Mapping[str, Any]) -> str:
    flat = {k: v for k, v in summary.items() if not isinstance(v, dict)}
    params = summary.get("parameters", {})
    data = {
        k: json.dumps(v) if isinstance(v, list) else v for k, v in summary.get("data", {}).items()
    }
    return (
        "config OK\n"
        f"{_kv(flat)}\ndata:\n{_kv(data)}\n"
        f"search space ({len(params)} parameters):\n{_kv(params)}"
    )


def comparison_table(report: Mapping[str, Any]) -> str:
    """`hpo compare` without --json: the ranking, then the significance tests."""
    rows = []
    for r in report["strategies"]:
        mean = r["best_mean"]
        rows.append(
            [
                r["strategy"],
                r["budget"],
                r["repeats"],
                f"{mean:.4f} ± {r['best_std']:.4f}" if mean is not None else "-",
                f"{r['wall_seconds_mean']:.1f}" if r["wall_seconds_mean"] is not None else "-",
                r["trials_to_target_median"]
                if r["trials_to_target_median"] is not None
                else "never",
                f"{r['cpu_seconds_to_target_median']:.1f}"
                if r.get("cpu_seconds_to_target_median") is not None
                else "never",
            ]
        )
    headers = [
        "strategy",
        "trials",
        "repeats",
        f"best {report['metric']}",
        "wall s",
        f"trials to {report['target']:.4f}",
        "CPU s to it",
    ]
    lines = [table(headers, rows)]
    sig = report["significance"]
    if "friedman" in sig and "p_value" in sig["friedman"]:
        lines.append(f"Friedman test across strategies: p = {sig['friedman']['p_value']:.4g}")
    for pair, p in sig.get("wilcoxon_holm", {}).items():
        lines.append(f"Wilcoxon (Holm-adjusted) {pair}: p = {p:.4g}")
    if "note" in sig:
        lines.append(f"significance: {sig['note']}")
    return "\n".join(lines)
