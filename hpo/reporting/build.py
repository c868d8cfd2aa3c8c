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
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from hpo.reporting import parameters, rules
from hpo.reporting.best_trial import BestTrial
from hpo.reporting.helper import ReportHelper, answer_or, read_in_two
from hpo.reporting.html import Table
from hpo.reporting.page import Page, Report

REPORT_ARTIFACT_DIR = "report"
HTML_FILE = "report.html"
JSON_FILE = "report.json"


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def build_report(
    sweep: Any,
    output: Path,
    tracking_uri: str,
    *,
    experiment: str = "",
    with_model: bool = True,
    trust_model: bool = False,
    helper: ReportHelper | None = None,
) -> Report:
    """Write every picture, report.html and report.json for one sweep (a SweepView);
    `helper` (reporting/helper.py) fits the importances while this process draws."""
    from hpo.reporting.html import render

    started = time.perf_counter()
    _quiet_libraries()
    output.mkdir(parents=True, exist_ok=True)
    report = Report(output)
    page = Page(report)
    info = sweep.info
    objectives = sweep.objectives
    metric, direction = objectives[0].metric, objectives[0].direction
    records = sorted(sweep.records, key=lambda r: r.trial)
    numbers = [r.trial for r in records]
    values = [_finite(r.metrics.get(metric)) if r.state == "COMPLETE" else None for r in records]
    states = {s: sum(r.state == s for r in records) for s in ("COMPLETE", "PRUNED", "FAIL")}

    try:
        best_record = sweep.best()
    except Exception as err:
        best_record = None
        page.note(f"best trial: {err}")
    best_trial = _start_best_trial(page, best_record, tracking_uri, with_model, trust_model)

    space = sweep.space  # read once from config.yaml by open_sweep
    if not space:  # an old sweep without config.yaml: read the params as they are
        page.note("search space unknown (no readable config.yaml): ranges not checked")
    picked = parameters.sampled(records, values, space, direction)
    asked = -1  # the helper fits fANOVA while the history is drawn
    if helper is not None and picked is not None:
        asked = helper.ask("importances", picked.fitted.axes, picked.fitted.values, direction)
    if any(v is not None for v in values):
        _history(page, sweep, records, values, metric, direction, tracking_uri)
    else:
        page.note("no completed trial with a finite objective: nothing to plot")
    importances: dict[str, float] = {}
    if picked is not None:
        importances = parameters.parameter_pictures(
            page,
            picked,
            metric,
            direction,
            lambda: answer_or(
                helper, asked, lambda: parameters.importances_here(picked, direction)
            ),
        )
    if sweep.multi_objective:
        page.attempt("Pareto front", lambda: _pareto(page, sweep))

    if best_record is not None:
        page.tables.append(
            Table(
                f"Best trial {best_record.trial} (run {best_record.run_id})",
                ["name", "value"],
                [
                    *[[k, v] for k, v in sorted(best_record.metrics.items())],
                    *[[k, v] for k, v in sorted(best_record.params.items())],
                ],
            )
        )
    best = best_trial if not isinstance(best_trial, Future) else _finish(page, best_trial)
    if best is not None:
        _best_trial_pictures(page, best, tracking_uri)

    ranges = [
        rules.Range(p.name, p.low, p.high, p.log, p.kind == "int")
        for p in space.values()
        if p.kind in ("float", "int") and p.low is not None and p.high is not None
    ]
    best_params = None if best_record is None else best_record.params
    report.warnings = rules.sweep_warnings(values, numbers, states, direction, best_params, ranges)
    summary = [
        f"experiment {experiment or info.experiment_id}, study {info.study} ({info.strategy}), "
        f"sweep run {info.run_id}",
        f"objective: {', '.join(f'{o.direction} {o.metric}' for o in objectives)}",
        "trials: " + ", ".join(f"{n} {s.lower()}" for s, n in states.items()),
    ]
    if importances:
        page.tables.append(
            Table("Parameter importance", ["parameter", "importance"], list(importances.items()))
        )
    html = render(
        f"hpo report: {info.study}",
        summary,
        report.warnings,
        page.figures,
        page.tables,
        report.notes,
    )
    (output / HTML_FILE).write_text(html, encoding="utf-8")
    report.files.append(HTML_FILE)
    report.seconds = time.perf_counter() - started
    payload = {
        "study": info.study,
        "sweep_run_id": info.run_id,
        "objectives": [{"metric": o.metric, "direction": o.direction} for o in objectives],
        "states": states,
        "best": None if best_record is None else best_record.to_json(),
        "importances": importances,
        "per_class": None if best is None else best.per_class_json(),
        "warnings": report.warnings,
        "notes": report.notes,
        "files": [*report.files, JSON_FILE],
    }
    (output / JSON_FILE).write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    report.files.append(JSON_FILE)
    return report


def _start_best_trial(
    page: Page, best_record: Any, tracking_uri: str, with_model: bool, trust_model: bool
) -> BestTrial | Future[BestTrial] | None:
    """The best trial's confusion matrix as logged with it; only sweeps from before that need
    the best model evaluated (TensorFlow import ~4 s), started here to run beside the plots."""
    from hpo.reporting.best_trial import evaluate_best, logged_confusion

    if best_record is None:
        return None
    logged = logged_confusion(tracking_uri, best_record.run_id, best_record.trial)
    if logged is not None:
        return logged
    if not with_model:
        page.note("confusion matrix: skipped (no model evaluation asked for)")
        return None
    if not best_record.has_model:
        page.note(f"confusion matrix: trial {best_record.trial} has no logged model")
        return None
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(1, thread_name_prefix="hpo-report")
    evaluation = pool.submit(evaluate_best, tracking_uri, best_record.run_id, trust_model)
    pool.shutdown(wait=False)  # the submitted evaluation still runs, beside the plots
    return evaluation


def _finish(page: Page, evaluation: Future[BestTrial]) -> BestTrial | None:
    best: BestTrial | None = page.attempt("confusion matrix", evaluation.result)
    return best


def _history(
    page: Page,
    sweep: Any,
    records: Sequence[Any],
    values: Sequence[float | None],
    metric: str,
    direction: str,
    tracking_uri: str,
) -> None:
    """The optimisation history by trial (Optuna's) and by wall time (hpo's own)."""
    from hpo.reporting import plots

    info = sweep.info
    numbers = [r.trial for r in records]
    page.add(
        "history_trials.png",
        "Optimisation history (by trial)",
        f"{metric} of each completed trial and the best so far",
        lambda p: plots.plot_trial_history(p, numbers, values, direction, metric, records),
    )
    # the trial records carry their runs' times: no second read of every run
    times = {r.run_id: (r.start_time or None, r.end_time or None) for r in records}
    if not times:
        return
    ends = [times.get(r.run_id, (None, None)) for r in records]
    xs = [((e or s or info.start_time) - info.start_time) / 1000.0 for s, e in ends]
    order = sorted(range(len(records)), key=lambda i: xs[i])
    page.add(
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


def _pareto(page: Page, sweep: Any) -> None:
    from hpo.reporting import plots

    first, second = sweep.objectives[0], sweep.objectives[1]
    complete = [
        r
        for r in sweep.records_complete()
        if _finite(r.metrics.get(first.metric)) is not None
        and _finite(r.metrics.get(second.metric)) is not None
    ]
    front = {r.run_id for r in sweep.pareto()}
    page.add(
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


def _best_trial_pictures(page: Page, best: BestTrial, tracking_uri: str) -> None:
    from hpo.reporting import curves, plots

    title = f"best trial {best.trial}, validation split"
    page.add(
        "confusion_matrix.png",
        "Confusion matrix of the best trial",
        "validation split (the split the sweep scored on)",
        lambda p: plots.plot_confusion(p, best.matrix, best.class_names, title),
    )
    page.add(
        "per_class_metrics.png",
        "Per-class precision, recall and F1 of the best trial",
        "validation split",
        lambda p: plots.plot_per_class(p, best.class_names, best.scores, title),
    )
    page.tables.append(best.per_class_table())
    curves.draw_best_curves(page.add, page.note, best.run_id, best.trial, tracking_uri)


def _quiet_libraries() -> None:
    """MLflow's download bars and TensorFlow's INFO lines would bury the one warning line."""
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def write_report(
    experiment: str,
    study: str | None,
    output: Path,
    tracking_uri: str | None,
    *,
    with_model: bool = True,
    trust_model: bool = False,
) -> Report:
    """`hpo report`: the report of one sweep (default: the latest) in `output`.

    A helper process starts first, to load MLflow while this one opens the sweep; it then
    reads half of a big sweep's trial runs and fits the importances (reporting/helper.py).
    """
    from hpo.tracking.store import existing_tracking_uri

    uri = existing_tracking_uri(tracking_uri)  # the helper must not create a store
    helper = ReportHelper.start(uri)  # before MLflow loads here (~1.2 s)
    try:
        from hpo.tracking.sweeps import open_sweep

        sweep = open_sweep(experiment, study, uri)
        if helper is not None:
            read_in_two(sweep, helper)
        return build_report(
            sweep,
            output,
            uri,
            experiment=experiment,
            with_model=with_model,
            trust_model=trust_model,
            helper=helper,
        )
    finally:
        if helper is not None:
            helper.close()


def log_sweep_report(
    experiment: str, study: str, tracking_uri: str, *, with_model: bool = True
) -> Report:
    """Build the report and log it on the sweep run under `report/` (end of `hpo run`)."""
    from hpo.tracking.runs import log_run_artifacts
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
