"""The one MLflow run writer: sweep runs, their trial runs, and small updates to a run.

Schema (a contract, see README and schema.py): one parent run per sweep (`hpo.kind=sweep`),
one child run per trial (`hpo.kind=trial`, `mlflow.parentRunId`), identical for every
strategy. Explicit run ids through `MlflowClient` throughout, so several processes can log
into one sweep safely. Reading back is reads.py; the model registry is registry.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from hpo.retry import Backoff
from hpo.tracking import schema
from hpo.tracking.reads import (
    EPOCH_METRICS,
    FOLD_SUFFIX,
    RunReads,
    SweepInfo,
    mlflow_client,
    trial_run_id,
)
from hpo.tracking.retry import READ_BACKOFF, RetryingClient, retrying_of
from hpo.tracking.store import ARTIFACT_ROOT, now_ms, refresh_query_statistics


class RunUpdates:
    """Writes to any run, whatever it holds: plain runs (the parent of a comparison), and
    metrics and tags added later (promotion adds test metrics to a trial run)."""

    client: MlflowClient

    def log_metrics(self, run_id: str, metrics: Mapping[str, float]) -> None:
        now = now_ms()
        self.client.log_batch(
            run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()]
        )

    def set_run_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])

    def start_run(self, experiment_id: str, name: str, tags: Mapping[str, str]) -> str:
        """A plain run (e.g. the parent of a strategy comparison)."""
        run = self.client.create_run(experiment_id, run_name=name, tags=dict(tags))
        return str(run.info.run_id)

    def nest_under(self, run_id: str, parent_run_id: str) -> None:
        """Show `run_id` under `parent_run_id` in the MLflow UI."""
        self.client.set_tag(run_id, schema.PARENT_RUN_ID, parent_run_id)

    def log_summary(
        self,
        run_id: str,
        *,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
        files: Sequence[str] = (),
        text: Mapping[str, str] | None = None,
    ) -> None:
        now = now_ms()
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


class Tracker(RunReads, RunUpdates):
    """Writes (and, through RunReads, reads) the runs of sweeps on one tracking URI; every
    call rides out an outage for `backoff` (a sweep's `--db-patience`; reads: a short one)."""

    def __init__(
        self,
        uri: str,
        backoff: Backoff = READ_BACKOFF,
        notify: Callable[[str], None] | None = None,
    ):
        self.uri = uri
        super().__init__(mlflow_client(uri, backoff, notify))
        # For http servers MLflow prints "View run ... at: <url>" on STDOUT when a run ends
        # (one extra get_run per run, too): stdout belongs to the CLI's `--json` object
        tracking_client = getattr(self.client, "_tracking_client", None)
        if tracking_client is not None and hasattr(tracking_client, "_log_url"):
            tracking_client._log_url = lambda run_id: None

    # ------------------------------------------------------------------ experiments / sweeps

    def experiment_id(self, name: str, *, create: bool = True) -> str | None:
        """The experiment's id; with `create` (a sweep) it is created, or restored if the user
        deleted it. Reads (`create=False`) treat a deleted experiment as absent and leave it
        deleted."""
        experiment = self.client.get_experiment_by_name(name)
        if experiment is not None:
            if experiment.lifecycle_stage == "deleted":
                if not create:
                    return None
                self.client.restore_experiment(experiment.experiment_id)
            # mark hpo's experiments as model training; a kind the user chose is kept
            if create and schema.EXPERIMENT_KIND not in experiment.tags:
                self.client.set_experiment_tag(
                    experiment.experiment_id,
                    schema.EXPERIMENT_KIND,
                    schema.EXPERIMENT_KIND_TRAINING,
                )
            return str(experiment.experiment_id)
        if not create:
            return None
        location = None
        if self.uri.startswith("sqlite:"):
            # keep artifacts in ./mlruns beside the database, as the README promises
            location = (Path.cwd() / ARTIFACT_ROOT / _slug(name)).as_uri()
        kind = {schema.EXPERIMENT_KIND: schema.EXPERIMENT_KIND_TRAINING}
        try:
            return str(self.client.create_experiment(name, artifact_location=location, tags=kind))
        except Exception:  # several workers started together: another one created it first
            experiment = self.client.get_experiment_by_name(name)
            if experiment is None:
                raise
            return str(experiment.experiment_id)

    def start_sweep(
        self,
        experiment_id: str,
        study: str,
        tags: Mapping[str, str],
        config_yaml: str,
        existing: SweepInfo | None,
    ) -> str:
        """Create the sweep run, or reopen the study's existing one on resume."""
        all_tags = {
            schema.KIND: schema.KIND_SWEEP,
            schema.STUDY: study,
            schema.RUN_NAME: study,
            **tags,
        }
        if existing is None:
            run = self.client.create_run(experiment_id, tags=all_tags, run_name=study)
            self.client.log_text(run.info.run_id, config_yaml, schema.CONFIG_ARTIFACT)
            return str(run.info.run_id)
        run_id = existing.run_id
        self.client.update_run(run_id, status="RUNNING")
        known = self.client.get_run(run_id).data.tags
        all_tags.update(_config_kept(self.client, run_id, known, all_tags, config_yaml))
        self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in all_tags.items()])
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
        tags: Mapping[str, str] | None = None,
    ) -> None:
        metrics: list[Metric] = []
        run_tags = [RunTag(key, value) for key, value in (tags or {}).items()]
        now = now_ms()
        if best_metric and best_value is not None and math.isfinite(best_value):
            metrics.append(Metric(f"best_{best_metric}", best_value, now, 0))
        for key, value in (summary or {}).items():
            metrics.append(Metric(key, float(value), now, 0))
        if best_run_id:
            run_tags.append(RunTag(schema.BEST_RUN_ID, best_run_id))
        if metrics or run_tags:
            self.client.log_batch(run_id, metrics=metrics, tags=run_tags)
        self.client.set_terminated(run_id, status)
        refresh_query_statistics(self.uri)  # the store grew: the reads that follow need them

    # ------------------------------------------------------------------ trials

    def start_trial(
        self,
        experiment_id: str,
        sweep_run_id: str,
        trial: int,
        params: Mapping[str, Any],
        tags: Mapping[str, str],
    ) -> str:
        tags = {
            schema.PARENT_RUN_ID: sweep_run_id,
            schema.KIND: schema.KIND_TRIAL,
            schema.TRIAL: str(trial),
            **tags,
        }
        run_id = _create_once(retrying_of(self.client), experiment_id, f"trial-{trial}", tags)
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
        now = now_ms()
        batch = [
            Metric(k, float(v), now, 0)
            for k, v in metrics.items()
            if v is not None and math.isfinite(float(v))
        ]
        # per epoch (loss, val_loss) and per fold run (`<metric>_fold`, trial/cv.py)
        for key in (*EPOCH_METRICS, *(k for k in history if k.endswith(FOLD_SUFFIX))):
            for epoch, value in enumerate(history.get(key, ())):
                if math.isfinite(value):
                    batch.append(Metric(key, float(value), now, epoch))
        tags = [RunTag(schema.STATE, state)]
        if error:
            tags.append(RunTag(schema.ERROR, error.replace("\n", " ")[:500]))
        tags.extend(RunTag(k, v) for k, v in (extra_tags or {}).items())
        # log_batch takes at most 1000 metrics per call
        for start in range(0, max(len(batch), 1), 1000):
            self.client.log_batch(
                run_id, metrics=batch[start : start + 1000], tags=tags if start == 0 else []
            )
        status = "KILLED" if killed else ("FAILED" if state == "FAIL" else "FINISHED")
        self.client.set_terminated(run_id, status)

    def log_confusion(self, run_id: str, class_names: Sequence[str], matrix: Any) -> None:
        """The validation confusion matrix as `confusion_matrix.json` (rows: true class) and
        the per-class scores it gives as `per_class.json`."""
        from hpo.scoring import per_class_from_confusion

        payload = {"class_names": list(class_names), "matrix": matrix}
        self.client.log_dict(run_id, payload, schema.CONFUSION_ARTIFACT)
        # every class's scores, whatever their number (metrics stop at 20 classes)
        per_class = per_class_from_confusion(matrix, class_names)
        self.client.log_dict(run_id, per_class, schema.PER_CLASS_ARTIFACT)

    def log_model_dir(self, run_id: str, path: str) -> None:
        """Upload a saved model folder as the run's `model` artifact, then remove it. If the
        upload fails the folder stays: the caller keeps it for a later try."""
        import shutil

        self.client.log_artifacts(run_id, path, schema.MODEL_ARTIFACT)
        self.client.set_tag(run_id, schema.MODEL, schema.MODEL_LOGGED)
        shutil.rmtree(path, ignore_errors=True)

    def end_trial_runs(
        self, experiment_id: str, sweep_run_id: str, numbers: set[int], reason: str
    ) -> int:
        """End the RUNNING runs of the given (stale) trial numbers FAILED; other workers'
        live trials of the same sweep are left alone."""
        if not numbers:
            return 0
        ended = 0
        for run_id, number in self.running_trial_runs(experiment_id, sweep_run_id).items():
            if number in numbers:
                self.finish_trial(run_id, "FAIL", metrics={}, history={}, error=reason)
                ended += 1
        return ended


def log_run_artifacts(tracking_uri: str, run_id: str, folder: str, artifact_path: str) -> None:
    """Upload a local folder under `artifact_path` of a run (the sweep report)."""
    mlflow_client(tracking_uri).log_artifacts(run_id, folder, artifact_path)


def _config_kept(
    client: MlflowClient,
    run_id: str,
    known: Mapping[str, str],
    tags: dict[str, str],
    config_yaml: str,
) -> dict[str, str]:
    """On resume, every config the sweep ran under stays: `config.yaml` and its
    `hpo.config_sha256` are the first; a resume whose config differs from the latest
    adds `config-<n>.yaml` with `hpo.config_sha256_<n>`. Returns the tags to set."""
    sha256 = tags.pop(schema.CONFIG_SHA256, None)
    if sha256 is None or schema.CONFIG_SHA256 not in known:  # a sweep from before hashes
        client.log_text(run_id, config_yaml, schema.CONFIG_ARTIFACT)
        return {schema.CONFIG_SHA256: sha256} if sha256 else {}
    latest, kept = known[schema.CONFIG_SHA256], 1
    while f"{schema.CONFIG_SHA256_PREFIX}{kept + 1}" in known:
        kept += 1
        latest = known[f"{schema.CONFIG_SHA256_PREFIX}{kept}"]
    if sha256 == latest:
        return {}
    client.log_text(run_id, config_yaml, schema.config_artifact(kept + 1))
    return {f"{schema.CONFIG_SHA256_PREFIX}{kept + 1}": sha256}


def _create_once(
    retrying: RetryingClient, experiment_id: str, name: str, tags: Mapping[str, str]
) -> str:
    """Create a trial run, retried: creating is the one write not safe to repeat, so a
    retry first looks for the run the last try may have made before its answer was lost."""
    tries = 0

    def create() -> str:
        nonlocal tries
        tries += 1
        if tries > 1:
            sweep, trial = tags[schema.PARENT_RUN_ID], int(tags[schema.TRIAL])
            found = trial_run_id(retrying.raw, experiment_id, sweep, trial)
            if found is not None:
                return found
        run = retrying.raw.create_run(experiment_id, run_name=name, tags=dict(tags))
        return str(run.info.run_id)

    return retrying.call("create_run", create)


def _param_value(value: Any) -> str:
    return str(value)[:6000]


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name) or "experiment"
