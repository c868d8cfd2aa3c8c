"""The one MLflow writer (and reader). No other module imports mlflow.

Schema (a contract, see README): one parent run per sweep (`hpo.kind=sweep`), one child
run per trial (`hpo.kind=trial`, `mlflow.parentRunId`), identical for every strategy.
Explicit run ids through `MlflowClient` throughout, so several processes can log into one
sweep safely.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, Run, RunTag, ViewType

from hpo.metrics import METRIC_NAMES

# MLflow and alembic narrate database creation at INFO; users need only warnings
for _name in ("mlflow", "alembic"):
    logging.getLogger(_name).setLevel(logging.WARNING)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
ARTIFACT_ROOT = "mlruns"
MODEL_ARTIFACT = "model"
CONFUSION_ARTIFACT = "confusion_matrix.json"
# Explicit requirements: letting MLflow infer them costs ~10 s per logged model.
MODEL_PIP_REQUIREMENTS = ("tensorflow", "keras", "mlflow")


def resolve_tracking_uri(cli: str | None, config: str | None) -> str:
    """CLI flag > config > MLFLOW_TRACKING_URI > the embedded SQLite default."""
    import os

    return cli or config or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def _now_ms() -> int:
    return int(time.time() * 1000)


def _param_value(value: Any) -> str:
    return str(value)[:6000]


@dataclass(frozen=True)
class TrialRecord:
    """A finished trial as MLflow shows it (read back for `hpo trials` / `hpo best`)."""

    trial: int
    run_id: str
    state: str
    params: dict[str, str]
    metrics: dict[str, float]
    has_model: bool
    start_time: int = 0  # ms since the epoch
    end_time: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "trial": self.trial,
            "run_id": self.run_id,
            "state": self.state,
            "params": self.params,
            "metrics": self.metrics,
        }


@dataclass(frozen=True)
class SweepInfo:
    run_id: str
    experiment_id: str
    study: str
    strategy: str
    objective: str
    direction: str
    status: str
    start_time: int
    objectives: str = ""  # "f1:maximize,n_params:minimize"
    constraints: str = ""  # "precision >= 0.9, ..."


class Tracker:
    def __init__(self, uri: str):
        from hpo.study.ledger import with_driver  # postgresql:// works with psycopg2 alone

        self.uri = uri
        self.client = MlflowClient(tracking_uri=with_driver(uri))
        # For http servers MLflow prints "View run ... at: <url>" on STDOUT when a run ends
        # (one extra get_run per run, too): stdout belongs to the CLI's `--json` object
        tracking_client = getattr(self.client, "_tracking_client", None)
        if tracking_client is not None and hasattr(tracking_client, "_log_url"):
            tracking_client._log_url = lambda run_id: None

    # ------------------------------------------------------------------ experiments / sweeps

    def experiment_id(self, name: str, *, create: bool = True) -> str | None:
        experiment = self.client.get_experiment_by_name(name)
        if experiment is not None:
            if experiment.lifecycle_stage == "deleted":
                self.client.restore_experiment(experiment.experiment_id)
            return str(experiment.experiment_id)
        if not create:
            return None
        location = None
        if self.uri.startswith("sqlite:"):
            # keep artifacts in ./mlruns beside the database, as the README promises
            location = (Path.cwd() / ARTIFACT_ROOT / _slug(name)).as_uri()
        try:
            return str(self.client.create_experiment(name, artifact_location=location))
        except Exception:  # several workers started together: another one created it first
            experiment = self.client.get_experiment_by_name(name)
            if experiment is None:
                raise
            return str(experiment.experiment_id)

    def find_sweep(self, experiment_id: str, study: str) -> SweepInfo | None:
        runs = self.client.search_runs(
            [experiment_id],
            filter_string=f"tags.`hpo.kind` = 'sweep' and tags.`hpo.study` = '{_quote(study)}'",
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=1,
            order_by=["attributes.start_time DESC"],
        )
        return _sweep_info(runs[0]) if runs else None

    def sweep_by_id(self, run_id: str) -> SweepInfo | None:
        """The sweep run recorded in a study's ledger (every worker joins the same one)."""
        try:
            run = self.client.get_run(run_id)
        except Exception:  # deleted, or another tracking server: fall back to the tag search
            return None
        if run.info.lifecycle_stage != "active" or run.data.tags.get("hpo.kind") != "sweep":
            return None
        return _sweep_info(run)

    def latest_sweep(self, experiment_id: str) -> SweepInfo | None:
        runs = self.client.search_runs(
            [experiment_id],
            filter_string="tags.`hpo.kind` = 'sweep'",
            max_results=1,
            order_by=["attributes.start_time DESC"],
        )
        return _sweep_info(runs[0]) if runs else None

    def start_sweep(
        self,
        experiment_id: str,
        study: str,
        tags: Mapping[str, str],
        config_yaml: str,
        existing: SweepInfo | None,
    ) -> str:
        """Create the sweep run, or reopen the study's existing one on resume."""
        all_tags = {"hpo.kind": "sweep", "hpo.study": study, "mlflow.runName": study, **tags}
        if existing is not None:
            run_id = existing.run_id
            self.client.update_run(run_id, status="RUNNING")
            self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in all_tags.items()])
        else:
            run = self.client.create_run(experiment_id, tags=all_tags, run_name=study)
            run_id = run.info.run_id
        self.client.log_text(run_id, config_yaml, "config.yaml")
        return run_id

    def end_sweep(
        self,
        run_id: str,
        status: str,
        *,
        best_metric: str | None = None,
        best_value: float | None = None,
        best_run_id: str | None = None,
        summary: Mapping[str, float] | None = None,
    ) -> None:
        metrics: list[Metric] = []
        tags: list[RunTag] = []
        now = _now_ms()
        if best_metric and best_value is not None and math.isfinite(best_value):
            metrics.append(Metric(f"best_{best_metric}", best_value, now, 0))
        for key, value in (summary or {}).items():
            metrics.append(Metric(key, float(value), now, 0))
        if best_run_id:
            tags.append(RunTag("hpo.best_run_id", best_run_id))
        if metrics or tags:
            self.client.log_batch(run_id, metrics=metrics, tags=tags)
        self.client.set_terminated(run_id, status)

    # ------------------------------------------------------------------ trials

    def start_trial(
        self,
        experiment_id: str,
        sweep_run_id: str,
        trial: int,
        params: Mapping[str, Any],
        tags: Mapping[str, str],
    ) -> str:
        run = self.client.create_run(
            experiment_id,
            run_name=f"trial-{trial}",
            tags={
                "mlflow.parentRunId": sweep_run_id,
                "hpo.kind": "trial",
                "hpo.trial": str(trial),
                **tags,
            },
        )
        run_id = run.info.run_id
        if params:
            self.client.log_batch(
                run_id, params=[Param(k, _param_value(v)) for k, v in params.items()]
            )
        return run_id

    def finish_trial(
        self,
        run_id: str,
        state: str,
        *,
        metrics: Mapping[str, float],
        history: Mapping[str, Sequence[float]],
        error: str | None = None,
        extra_tags: Mapping[str, str] | None = None,
        killed: bool = False,
    ) -> None:
        """One batch of metrics and tags, then the terminal status (FAILED for a FAIL)."""
        now = _now_ms()
        batch = [
            Metric(k, float(v), now, 0)
            for k, v in metrics.items()
            if v is not None and math.isfinite(float(v))
        ]
        for key in ("loss", "val_loss"):
            for epoch, value in enumerate(history.get(key, ())):
                if math.isfinite(value):
                    batch.append(Metric(key, float(value), now, epoch))
        tags = [RunTag("hpo.state", state)]
        if error:
            tags.append(RunTag("hpo.error", error.replace("\n", " ")[:500]))
        tags.extend(RunTag(k, v) for k, v in (extra_tags or {}).items())
        # log_batch takes at most 1000 metrics per call
        for start in range(0, max(len(batch), 1), 1000):
            self.client.log_batch(
                run_id, metrics=batch[start : start + 1000], tags=tags if start == 0 else []
            )
        status = "KILLED" if killed else ("FAILED" if state == "FAIL" else "FINISHED")
        self.client.set_terminated(run_id, status)

    def log_confusion(self, run_id: str, class_names: Sequence[str], matrix: Any) -> None:
        """The validation confusion matrix as `confusion_matrix.json` (rows: true class)."""
        payload = {"class_names": list(class_names), "matrix": matrix}
        self.client.log_dict(run_id, payload, CONFUSION_ARTIFACT)

    def log_model_dir(self, run_id: str, path: str) -> None:
        """Upload a saved model folder as the run's `model` artifact, then remove it."""
        import shutil

        try:
            self.client.log_artifacts(run_id, path, MODEL_ARTIFACT)
            self.client.set_tag(run_id, "hpo.model", "logged")
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def end_stale_trials(self, experiment_id: str, sweep_run_id: str, reason: str) -> int:
        """End child runs left RUNNING by a dead process: FAIL, never RUNNING forever."""
        runs = self.client.search_runs(
            [experiment_id],
            filter_string=(
                f"tags.`mlflow.parentRunId` = '{sweep_run_id}' and attributes.status = 'RUNNING'"
            ),
            max_results=1000,
        )
        for run in runs:
            self.finish_trial(run.info.run_id, "FAIL", metrics={}, history={}, error=reason)
        return len(runs)

    # ------------------------------------------------------------------ other runs

    def start_run(self, experiment_id: str, name: str, tags: Mapping[str, str]) -> str:
        """A plain run (e.g. the parent of a strategy comparison)."""
        run = self.client.create_run(experiment_id, run_name=name, tags=dict(tags))
        return str(run.info.run_id)

    def nest_under(self, run_id: str, parent_run_id: str) -> None:
        """Show `run_id` under `parent_run_id` in the MLflow UI."""
        self.client.set_tag(run_id, "mlflow.parentRunId", parent_run_id)

    def log_summary(
        self,
        run_id: str,
        *,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
        files: Sequence[str] = (),
        text: Mapping[str, str] | None = None,
    ) -> None:
        now = _now_ms()
        self.client.log_batch(
            run_id,
            metrics=[
                Metric(k, float(v), now, 0)
                for k, v in (metrics or {}).items()
                if math.isfinite(float(v))
            ],
            tags=[RunTag(k, v) for k, v in (tags or {}).items()],
        )
        for path in files:
            self.client.log_artifact(run_id, path)
        for name, body in (text or {}).items():
            self.client.log_text(run_id, body, name)

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status)

    def end_trial_runs(
        self, experiment_id: str, sweep_run_id: str, numbers: set[int], reason: str
    ) -> int:
        """End the RUNNING runs of the given (stale) trial numbers FAILED; other workers'
        live trials of the same sweep are left alone."""
        if not numbers:
            return 0
        runs = self.client.search_runs(
            [experiment_id],
            filter_string=(
                f"tags.`mlflow.parentRunId` = '{sweep_run_id}' and attributes.status = 'RUNNING'"
            ),
            max_results=1000,
        )
        ended = 0
        for run in runs:
            if (
                run.data.tags.get("hpo.trial", "").isdigit()
                and int(run.data.tags["hpo.trial"]) in numbers
            ):
                self.finish_trial(run.info.run_id, "FAIL", metrics={}, history={}, error=reason)
                ended += 1
        return ended

    # ------------------------------------------------------------------ reading back

    def trials(self, experiment_id: str, sweep_run_id: str) -> list[TrialRecord]:
        runs = self.client.search_runs(
            [experiment_id],
            filter_string=f"tags.`mlflow.parentRunId` = '{sweep_run_id}'",
            max_results=50000,
        )
        records = [
            TrialRecord(
                trial=int(run.data.tags.get("hpo.trial", -1)),
                run_id=run.info.run_id,
                state=run.data.tags.get("hpo.state", "RUNNING"),
                params=dict(run.data.params),
                metrics={
                    k: v for k, v in run.data.metrics.items() if k not in ("loss", "val_loss")
                },
                has_model=run.data.tags.get("hpo.model") == "logged",
                start_time=run.info.start_time or 0,
                end_time=run.info.end_time or 0,
            )
            for run in runs
            if run.data.tags.get("hpo.kind") == "trial"
        ]
        return sorted(records, key=lambda r: r.trial)


def _sweep_info(run: Run) -> SweepInfo:
    tags = run.data.tags
    return SweepInfo(
        run_id=run.info.run_id,
        experiment_id=run.info.experiment_id,
        study=tags.get("hpo.study", ""),
        strategy=tags.get("hpo.strategy", ""),
        objective=tags.get("hpo.objective", "f1"),
        direction=tags.get("hpo.direction", "maximize"),
        status=run.info.status,
        start_time=run.info.start_time,
        objectives=tags.get("hpo.objectives", ""),
        constraints=tags.get("hpo.constraints", ""),
    )


def _quote(value: str) -> str:
    return value.replace("'", "\\'")


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name) or "experiment"


def preload_model_saving() -> None:
    """Import MLflow's Keras flavour now (~3 s the first time) rather than mid-sweep."""
    import mlflow.keras
    import mlflow.models  # noqa: F401


def save_keras_model(model: Any, x_example: Any, path: str) -> None:
    """Save a trained Keras model as an MLflow model (with a signature) in `path`.

    Runs in the training process, which has the model; the orchestrator uploads the folder
    with `Tracker.log_model_dir`, off the critical path of the next trial.
    """
    import mlflow.keras
    from mlflow.models import infer_signature

    example = x_example[:5]
    signature = infer_signature(example, model(example, training=False).numpy())
    mlflow.keras.save_model(
        model, path, signature=signature, pip_requirements=list(MODEL_PIP_REQUIREMENTS)
    )


__all__ = [
    "DEFAULT_TRACKING_URI",
    "METRIC_NAMES",
    "SweepInfo",
    "Tracker",
    "TrialRecord",
    "resolve_tracking_uri",
    "save_keras_model",
]
