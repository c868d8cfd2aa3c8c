"""Sweep reports: pictures, warnings and one HTML page, built from the MLflow records.

`write_report` serves `hpo report`; `log_sweep_report` runs after every `hpo run` and puts
the same files on the sweep run under `report/`, where users already look (the MLflow UI).
Each picture is optional: one that cannot be drawn (too few trials, no logged model) becomes
a note in the report instead of an error, so a report is always written.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpo.reporting import rules

REPORT_ARTIFACT_DIR = "report"
HTML_FILE = "report.html"
JSON_FILE = "report.json"


@dataclass
class Report:
    folder: Path
    files: list[str] = field(default_factory=list)  # names inside `folder`
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # pictures not drawn, and why
    seconds: float = 0.0


@dataclass
class _Best:
    trial: int
    run_id: str
    class_names: list[str]
    matrix: Any
    scores: dict[str, list[float]]


def _logged_confusion(tracking_uri: str, run_id: str, trial: int) -> _Best | None:
    """The validation confusion matrix the sweep logged with the trial (no model needed)."""
    import numpy as np

    from hpo.reporting.plots import per_class_scores
    from hpo.tracking.registry import Registry
    from hpo.tracking.runs import CONFUSION_ARTIFACT

    try:
        payload = json.loads(Registry(tracking_uri).read_text(run_id, CONFUSION_ARTIFACT))
    except Exception:  # a sweep from before the artifact existed
        return None
    matrix = np.asarray(payload["matrix"], dtype=int)
    names = [str(n) for n in payload["class_names"]]
    return _Best(trial, run_id, names, matrix, per_class_scores(matrix))


def _evaluate_best(tracking_uri: str, run_id: str) -> _Best:
    """Confusion matrix of the best trial's logged model on the sweep's validation split
    (for sweeps logged before trials carried their confusion matrix)."""
    from hpo.deploy.promote import evaluate
    from hpo.tracking.lineage import trained_on
    from hpo.tracking.registry import Registry
    from hpo.tracking.runs import MODEL_ARTIFACT

    registry = Registry(tracking_uri)
    lineage = registry.lineage(run_id)
    trained = trained_on(lineage)
    data = trained.dataset
    model = registry.load_keras(f"runs:/{run_id}/{MODEL_ARTIFACT}")
    _, matrix = evaluate(model, data.x_val, data.y_val, trained.average)
    from hpo.reporting.plots import per_class_scores

    names = list(data.class_names)[: len(matrix)]
    names += [str(i) for i in range(len(names), len(matrix))]
    return _Best(lineage.trial, run_id, names, matrix, per_class_scores(matrix))


def build_report(
    sweep: Any,
    output: Path,
    tracking_uri: str,
    *,
    experiment: str = "",
    with_model: bool = True,
) -> Report:
    """Write every picture, report.html and report.json for one sweep (a SweepView)."""
    from hpo.reporting import plots
    from hpo.reporting.html import Figure, Table, render
    from hpo.tracking.registry import trial_times

    started = time.perf_counter()
    _quiet_libraries()
    output.mkdir(parents=True, exist_ok=True)
    report = Report(output)
    info = sweep.info
    objectives = sweep.objectives
    primary = objectives[0]
    metric, direction = primary.metric, primary.direction
    records = sorted(sweep.records, key=lambda r: r.trial)
    numbers = [r.trial for r in records]
    values = [_finite(r.metrics.get(metric)) if r.state == "COMPLETE" else None for r in records]
    states = {s: sum(r.state == s for r in records) for s in ("COMPLETE", "PRUNED", "FAIL")}
    figures: list[Figure] = []
    tables: list[Table] = []

    def attempt(what: str, draw: Callable[[], Any]) -> Any:
        try:
            return draw()
        except Exception as err:  # a picture must never cost the whole report
            report.notes.append(f"{what}: {type(err).__name__}: {str(err).splitlines()[0:1]}")
            return None

    def add(name: str, title: str, caption: str, draw: Callable[[Path], Any]) -> None:
        path = output / name
        if attempt(title, lambda: draw(path)) is not None:
            figures.append(Figure(title, path, caption))
            report.files.append(name)

    # The best trial's confusion matrix was logged with it; only sweeps from before that
    # need the best model evaluated (TensorFlow import ~4 s), which runs beside the plots.
    try:
        best_record = sweep.best()
    except Exception as err:
        best_record = None
        report.notes.append(f"best trial: {err}")
    logged = None
    if best_record is not None:
        logged = _logged_confusion(tracking_uri, best_record.run_id, best_record.trial)
    evaluation = None
    if best_record is None or logged is not None:
        pass
    elif not with_model:
        report.notes.append("confusion matrix: skipped (no model evaluation asked for)")
    elif not best_record.has_model:
        report.notes.append(f"confusion matrix: trial {best_record.trial} has no logged model")
    else:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(1, thread_name_prefix="hpo-report")
        evaluation = pool.submit(_evaluate_best, tracking_uri, best_record.run_id)

    space = sweep.space  # read once from config.yaml by open_sweep
    if not space:  # an old sweep without config.yaml: read the params as they are
        report.notes.append("search space unknown (no readable config.yaml): ranges not checked")

    scored = [v for v in values if v is not None]
    if not scored:
        report.notes.append("no completed trial with a finite objective: nothing to plot")
    else:
        add(
            "history_trials.png",
            "Optimisation history (by trial)",
            f"{metric} of each completed trial and the best so far",
            lambda p: plots.plot_history(p, numbers, values, direction, metric, "trial"),
        )
        times = attempt(
            "history by time", lambda: trial_times(tracking_uri, info.experiment_id, info.run_id)
        )
        if times:
            ends = [times.get(r.run_id, (None, None)) for r in records]
            xs = [((e or s or info.start_time) - info.start_time) / 1000.0 for s, e in ends]
            order = sorted(range(len(records)), key=lambda i: xs[i])
            add(
                "history_time.png",
                "Optimisation history (by time)",
                "seconds since the sweep started, at the end of each trial",
                lambda p: plots.plot_history(
                    p,
                    [xs[i] for i in order],
                    [values[i] for i in order],
                    direction,
                    metric,
                    "seconds since the sweep started",
                ),
            )

    axes = plots.build_axes([r.params for r in records], space)
    complete_idx = [i for i, v in enumerate(values) if v is not None]
    c_axes = [
        plots.Axis(a.name, tuple(a.values[i] for i in complete_idx), a.log, a.labels, a.param)
        for a in axes
    ]
    c_values = [values[i] for i in complete_idx]
    c_numbers = [numbers[i] for i in complete_idx]
    importances: dict[str, float] = {}
    if c_axes and scored:
        add(
            "parallel_coordinates.png",
            "Parallel coordinates",
            "each line is a completed trial; colour is the objective",
            lambda p: plots.plot_parallel(p, c_axes, c_values, metric, direction),
        )
        importances = (
            attempt(
                "parameter importance",
                lambda: plots.param_importances(c_axes, c_values, direction),
            )
            or {}
        )
        if importances:
            add(
                "param_importance.png",
                "Parameter importance",
                "fANOVA (optuna.importance) on the completed trials",
                lambda p: plots.plot_importance(p, importances, metric),
            )
        else:
            report.notes.append("parameter importance: needs at least 2 completed trials")
        add(
            "slices.png",
            "Slice plots",
            "the objective against each parameter; colour is the trial number",
            lambda p: plots.plot_slices(p, c_axes, c_values, c_numbers, metric),
        )
        ranked = [a for name in importances for a in c_axes if a.name == name]
        ranked += [a for a in c_axes if a not in ranked]
        if len(ranked) >= 2:
            add(
                "contour.png",
                "Contour of the two most important parameters",
                f"{ranked[0].name} and {ranked[1].name}",
                lambda p: plots.plot_contour(p, ranked[0], ranked[1], c_values, metric),
            )
        else:
            report.notes.append("contour: needs two searched parameters")

    if sweep.multi_objective:
        attempt("Pareto front", lambda: _pareto(sweep, output, add))

    best = None
    if best_record is not None:
        tables.append(
            Table(
                f"Best trial {best_record.trial} (run {best_record.run_id})",
                ["name", "value"],
                [
                    *[[k, v] for k, v in sorted(best_record.metrics.items())],
                    *[[k, v] for k, v in sorted(best_record.params.items())],
                ],
            )
        )
    if logged is not None:
        best = logged
    elif evaluation is not None:
        best = attempt("confusion matrix", evaluation.result)
        pool.shutdown()
    if best is not None:
        title = f"best trial {best.trial}, validation split"
        add(
            "confusion_matrix.png",
            "Confusion matrix of the best trial",
            "validation split (the split the sweep scored on)",
            lambda p: plots.plot_confusion(p, best.matrix, best.class_names, title),
        )
        add(
            "per_class_metrics.png",
            "Per-class precision, recall and F1 of the best trial",
            "validation split",
            lambda p: plots.plot_per_class(p, best.class_names, best.scores, title),
        )
        tables.append(
            Table(
                f"Per-class scores, best trial {best.trial} (validation split)",
                ["class", "precision", "recall", "f1", "support"],
                [
                    [name, p, r, f, int(s)]
                    for name, p, r, f, s in zip(
                        best.class_names,
                        best.scores["precision"],
                        best.scores["recall"],
                        best.scores["f1"],
                        best.scores["support"],
                        strict=True,
                    )
                ],
            )
        )

    report.warnings = sweep_warnings(
        records, values, numbers, states, direction, best_record, space
    )
    summary = [
        f"experiment {experiment or info.experiment_id}, study {info.study} ({info.strategy}), "
        f"sweep run {info.run_id}",
        f"objective: {', '.join(f'{o.direction} {o.metric}' for o in objectives)}",
        "trials: " + ", ".join(f"{n} {s.lower()}" for s, n in states.items()),
    ]
    if importances:
        tables.append(
            Table("Parameter importance", ["parameter", "importance"], list(importances.items()))
        )
    page = render(
        f"hpo report: {info.study}", summary, report.warnings, figures, tables, report.notes
    )
    (output / HTML_FILE).write_text(page, encoding="utf-8")
    report.files.append(HTML_FILE)
    report.seconds = time.perf_counter() - started
    payload = {
        "study": info.study,
        "sweep_run_id": info.run_id,
        "objectives": [{"metric": o.metric, "direction": o.direction} for o in objectives],
        "states": states,
        "best": None if best_record is None else best_record.to_json(),
        "importances": importances,
        "per_class": None
        if best is None
        else {"classes": best.class_names, **best.scores, "split": "validation"},
        "warnings": report.warnings,
        "notes": report.notes,
        "files": [*report.files, JSON_FILE],
    }
    (output / JSON_FILE).write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    report.files.append(JSON_FILE)
    return report


def _quiet_libraries() -> None:
    """MLflow's download bars and TensorFlow's INFO lines would bury the one warning line."""
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def sweep_warnings(
    records: Sequence[Any],
    values: Sequence[float | None],
    numbers: Sequence[int],
    states: dict[str, int],
    direction: str,
    best_record: Any,
    space: dict[str, Any],
) -> list[str]:
    """The three rules of `hpo.reporting.warnings`, applied to one sweep."""
    found: list[str] = []
    if best_record is not None and space:
        ranges = [
            rules.Range(p.name, p.low, p.high, p.log, p.kind == "int")
            for p in space.values()
            if p.kind in ("float", "int") and p.low is not None and p.high is not None
        ]
        found += rules.edge_of_range(best_record.params, ranges)
    for message in (
        rules.mostly_failed(states),
        rules.stalled(values, direction, trial_numbers=numbers),
    ):
        if message:
            found.append(message)
    return found


def _pareto(sweep: Any, output: Path, add: Callable[..., None]) -> None:
    from hpo.reporting import plots

    first, second = sweep.objectives[0], sweep.objectives[1]
    complete = [
        r
        for r in sweep.records_complete()
        if _finite(r.metrics.get(first.metric)) is not None
        and _finite(r.metrics.get(second.metric)) is not None
    ]
    front = {r.run_id for r in sweep.pareto()}
    add(
        "pareto_front.png",
        "Pareto front",
        f"{first.direction} {first.metric}, {second.direction} {second.metric}",
        lambda p: plots.plot_pareto(
            p,
            [r.metrics[first.metric] for r in complete],
            [r.metrics[second.metric] for r in complete],
            [r.run_id in front for r in complete],
            [r.trial for r in complete],
            (first.metric, second.metric),
        ),
    )


def write_report(
    experiment: str,
    study: str | None,
    output: Path,
    tracking_uri: str | None,
    *,
    with_model: bool = True,
) -> Report:
    """`hpo report`: the report of one sweep (default: the latest) in `output`."""
    from hpo.tracking.runs import resolve_tracking_uri
    from hpo.tracking.sweeps import open_sweep

    uri = resolve_tracking_uri(tracking_uri, None)
    sweep = open_sweep(experiment, study, uri)
    return build_report(sweep, output, uri, experiment=experiment, with_model=with_model)


def log_sweep_report(
    experiment: str, study: str, tracking_uri: str, *, with_model: bool = True
) -> Report:
    """Build the report and log it on the sweep run under `report/` (end of `hpo run`)."""
    from hpo.tracking.registry import log_run_artifacts
    from hpo.tracking.sweeps import open_sweep

    sweep = open_sweep(experiment, study, tracking_uri)
    with tempfile.TemporaryDirectory(prefix="hpo-report-") as tmp:
        report = build_report(
            sweep, Path(tmp), tracking_uri, experiment=experiment, with_model=with_model
        )
        log_run_artifacts(tracking_uri, sweep.info.run_id, tmp, REPORT_ARTIFACT_DIR)
    report.folder = Path(f"runs:/{sweep.info.run_id}/{REPORT_ARTIFACT_DIR}")
    return report


__all__ = ["Report", "build_report", "log_sweep_report", "write_report"]
