"""`hpo.trials`, `hpo.best`, `hpo.report`: what a sweep logged, read back from MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from hpo.sweep.summary import Best
    from hpo.tracking.sweeps import SweepView


def open_sweep(experiment: str, study: str | None, tracking_uri: str | None) -> SweepView:
    """The sweep (default: the latest of `experiment`) as `hpo trials` and `hpo best` read it."""
    from hpo.tracking.sweeps import open_sweep as open_view

    return open_view(experiment, study, tracking_uri)


def trial_rows(
    experiment: str, study: str | None, tracking_uri: str | None
) -> list[dict[str, Any]]:
    """`hpo trials --format json`: every trial, best first, parameters typed."""
    sweep = open_sweep(experiment, study, tracking_uri)
    return [sweep.record_json(r) for r in sweep.sorted_trials()]


def trials(
    experiment: str, study: str | None = None, tracking_uri: str | None = None
) -> pd.DataFrame:
    """The trials of a sweep as a table, best first (as `hpo trials`).

    Args:
        experiment: the MLflow experiment (the config's `name`).
        study: the study (default: the latest sweep of the experiment).
        tracking_uri: MLflow (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db).

    Returns:
        A pandas DataFrame: columns `trial`, `run_id`, `state`, then one per parameter
        (typed as the search space says) and one per metric; failed and pruned trials last.

    Raises:
        UserInputError: no such experiment or study.
    """
    import pandas as pd

    rows = trial_rows(experiment, study, tracking_uri)
    params = _names(row["params"] for row in rows)
    metrics = _names(row["metrics"] for row in rows)
    table = [
        {
            "trial": row["trial"],
            "run_id": row["run_id"],
            "state": row["state"],
            **{name: row["params"].get(name) for name in params},
            **{name: row["metrics"].get(name) for name in metrics},
        }
        for row in rows
    ]
    return pd.DataFrame(table, columns=["trial", "run_id", "state", *params, *metrics])


def _names(mappings: Any) -> list[str]:
    """Every key of the mappings, in the order first seen (a param of a conditional branch
    appears where its trials first have it)."""
    seen: dict[str, None] = {}
    for mapping in mappings:
        seen.update(dict.fromkeys(mapping))
    return list(seen)


def best(experiment: str, study: str | None = None, tracking_uri: str | None = None) -> Best:
    """The best trial of a sweep (as `hpo best`; several objectives: the best of the Pareto
    set on the first one).

    Args:
        experiment: the MLflow experiment (the config's `name`).
        study: the study (default: the latest sweep of the experiment).
        tracking_uri: MLflow (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db).

    Returns:
        `hpo.Best`: `.trial`, `.run_id`, `.params` (typed as the search space says) and
        `.metrics`.

    Raises:
        UserInputError: no such experiment or study, or no completed trial (that meets the
            sweep's constraints).
    """
    from hpo.sweep.summary import Best

    sweep = open_sweep(experiment, study, tracking_uri)
    row = sweep.record_json(sweep.best())
    return Best(row["trial"], row["run_id"], row["params"], dict(row["metrics"]))


def report(
    experiment: str,
    output: str | Path = "report",
    *,
    study: str | None = None,
    tracking_uri: str | None = None,
    trust_model: bool = False,
) -> dict[str, Any]:
    """Write a sweep's report (pictures, report.html, report.json) into `output`.

    Args:
        experiment: the MLflow experiment (the config's `name`).
        output: the folder to write.
        study: the study (default: the latest sweep of the experiment).
        tracking_uri: MLflow (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db).
        trust_model: load a best model that is not a plain Keras model (runs its code).

    Returns:
        `{"folder", "files", "warnings", "notes"}`: the files written (names inside
        `folder`), the report's warnings, and the pictures not drawn with why.

    Raises:
        UserInputError: no such experiment or study.
    """
    from hpo.reporting.build import write_report

    done = write_report(experiment, study, Path(output), tracking_uri, trust_model=trust_model)
    return {
        "folder": str(done.folder),
        "files": list(done.files),
        "warnings": list(done.warnings),
        "notes": list(done.notes),
    }
