"""Reading runs back from MLflow: sweeps, their trials, a trial's lineage, run artifacts.

`RunReads` needs only an `MlflowClient`; the writer (`runs.Tracker`) and the model registry
(`registry.Registry`) both read through it, each with the client it builds.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from mlflow import MlflowClient
from mlflow.entities import Run, ViewType
from mlflow.exceptions import MlflowException

from hpo.errors import UserInputError
from hpo.retry import Backoff
from hpo.tracking import schema
from hpo.tracking.retry import READ_BACKOFF, retrying_client
from hpo.tracking.store import quote
from hpo.urls import with_driver

EPOCH_METRICS = ("loss", "val_loss")  # logged per epoch; a trial record keeps the others
FOLD_SUFFIX = "_fold"  # `<metric>_fold`: one value per fold run (step = run index)


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

    JSON_FIELDS: ClassVar[tuple[str, ...]] = ("trial", "run_id", "state", "params", "metrics")

    def to_json(self) -> dict[str, Any]:
        """What `hpo trials --json` / `hpo best --json` print for a trial (a contract)."""
        return {key: getattr(self, key) for key in self.JSON_FIELDS}


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


@dataclass(frozen=True)
class RunLineage:
    """A trial run and the sweep run above it: where its config and data fingerprint live."""

    run_id: str
    experiment: str
    sweep_run_id: str
    trial: int
    trial_tags: dict[str, str]
    sweep_tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, float]
    config_yaml: str


class RunReads:
    """Reads of sweep and trial runs through one MLflow client."""

    def __init__(self, client: MlflowClient):
        self.client = client

    def find_sweep(self, experiment_id: str, study: str) -> SweepInfo | None:
        runs = self.client.search_runs(
            [experiment_id],
            filter_string=(
                f"tags.`{schema.KIND}` = '{schema.KIND_SWEEP}' "
                f"and tags.`{schema.STUDY}` = '{quote(study)}'"
            ),
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
        if (
            run.info.lifecycle_stage != "active"
            or run.data.tags.get(schema.KIND) != schema.KIND_SWEEP
        ):
            return None
        return _sweep_info(run)

    def latest_sweep(self, experiment_id: str) -> SweepInfo | None:
        runs = self.client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{schema.KIND}` = '{schema.KIND_SWEEP}'",
            max_results=1,
            order_by=["attributes.start_time DESC"],
        )
        return _sweep_info(runs[0]) if runs else None

    def trials(
        self,
        experiment_id: str,
        sweep_run_id: str,
        *,
        since_ms: int | None = None,
        before_ms: int | None = None,
    ) -> list[TrialRecord]:
        """The sweep's trial runs (those started in [since_ms, before_ms) when given: two
        such reads of a big sweep can run side by side, reporting/helper.py)."""
        runs = self.client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{schema.PARENT_RUN_ID}` = '{sweep_run_id}'"
            + _started(since_ms, before_ms),
            max_results=50000,
        )
        return sorted((_trial_record(run) for run in runs if _is_trial(run)), key=trial_order)

    def latest_trial(self, experiment_id: str, sweep_run_id: str) -> TrialRecord | None:
        """The sweep's last started trial run: its number tells the sweep's size (one row)."""
        runs = self.client.search_runs(
            [experiment_id],
            filter_string=(
                f"tags.`{schema.PARENT_RUN_ID}` = '{sweep_run_id}' "
                f"and tags.`{schema.KIND}` = '{schema.KIND_TRIAL}'"
            ),
            max_results=1,
            order_by=["attributes.start_time DESC"],
        )
        return _trial_record(runs[0]) if runs else None

    def ranked_trials(
        self,
        experiment_id: str,
        sweep_run_id: str,
        metric: str,
        direction: str,
        *,
        more: str = "",
        page: int = 200,
    ) -> Iterator[TrialRecord]:
        """COMPLETE trials best first on `metric` (earlier first on a tie), one page of
        `search_runs` at a time: the store sorts, and only the pages read cross the wire.
        `more`: further filter terms (e.g. a logged model)."""
        order = "DESC" if direction == "maximize" else "ASC"
        token: str | None = None
        while True:
            runs = self.client.search_runs(
                [experiment_id],
                filter_string=_trials_of(sweep_run_id, "= 'COMPLETE'") + more,
                max_results=page,
                order_by=[f"metrics.`{metric}` {order}", "attributes.start_time ASC"],
                page_token=token,
            )
            yield from (_trial_record(run) for run in runs)
            token = runs.token
            if not token:
                return

    def top_trials(
        self, experiment_id: str, sweep_run_id: str, metric: str, direction: str, limit: int
    ) -> list[TrialRecord]:
        """The first `limit` trials of `hpo trials`' order: COMPLETE ones best first, then
        the others (pruned, failed) the same way, those without the metric last (MLflow's
        order), earlier first on a tie. Two paged queries."""
        ranked = self.ranked_trials(
            experiment_id, sweep_run_id, metric, direction, page=min(limit, 1000)
        )
        records = list(itertools.islice(ranked, limit))
        if len(records) < limit:
            order = "DESC" if direction == "maximize" else "ASC"
            rest = self.client.search_runs(
                [experiment_id],
                filter_string=_trials_of(sweep_run_id, "!= 'COMPLETE'"),
                max_results=limit - len(records),
                order_by=[f"metrics.`{metric}` {order}", "attributes.start_time ASC"],
            )
            records += [_trial_record(run) for run in rest]
        return records

    def lineage(self, run_id: str) -> RunLineage:
        """The trial run and its sweep: needed to rebuild the exact data split."""
        run = self.client.get_run(run_id)
        tags = dict(run.data.tags)
        if tags.get(schema.KIND) == schema.KIND_RETRAIN and schema.PARENT_RUN_ID in tags:
            # a retrain (`hpo promote --reevaluate/--refit`): its trial's lineage
            run = self.client.get_run(tags[schema.PARENT_RUN_ID])
            run_id, tags = run.info.run_id, dict(run.data.tags)
        if tags.get(schema.KIND) != schema.KIND_TRIAL or schema.PARENT_RUN_ID not in tags:
            raise UserInputError(
                "the model's run is not an hpo trial run: cannot find its data split",
                field=f"run {run_id}",
            )
        sweep = self.client.get_run(tags[schema.PARENT_RUN_ID])
        experiment = self.client.get_experiment(run.info.experiment_id)
        try:
            config_yaml = self.read_text(sweep.info.run_id, schema.CONFIG_ARTIFACT)
        except MlflowException:
            raise UserInputError(
                "the sweep run has no config.yaml artifact", field=f"run {sweep.info.run_id}"
            ) from None
        return RunLineage(
            run_id=run_id,
            experiment=experiment.name,
            trial=int(tags.get(schema.TRIAL, -1)),
            params=dict(run.data.params),
            metrics=dict(run.data.metrics),
            trial_tags=tags,
            sweep_run_id=sweep.info.run_id,
            sweep_tags=dict(sweep.data.tags),
            config_yaml=config_yaml,
        )

    def read_text(self, run_id: str, path: str) -> str:
        import os
        import tempfile

        # a bar for one small file is noise on the stderr of `hpo best` and friends
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

        with tempfile.TemporaryDirectory() as tmp:
            local = self.client.download_artifacts(run_id, path, tmp)
            return Path(local).read_text(encoding="utf-8")

    def read_bytes(self, run_id: str, path: str) -> bytes:
        """One small binary artifact (a trial model's `val_predictions.npz`)."""
        import os
        import tempfile

        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        with tempfile.TemporaryDirectory() as tmp:
            return Path(self.client.download_artifacts(run_id, path, tmp)).read_bytes()

    def run_metric(self, run_id: str, key: str) -> float | None:
        try:
            value = self.client.get_run(run_id).data.metrics.get(key)
        except MlflowException:
            return None
        return None if value is None else float(value)

    def find_trial_run(self, experiment_id: str, sweep_run_id: str, trial: int) -> str | None:
        """The run of trial `trial` of the sweep, if one exists (the latest)."""
        return trial_run_id(self.client, experiment_id, sweep_run_id, trial)

    def running_trial_runs(self, experiment_id: str, sweep_run_id: str) -> dict[str, int | None]:
        """{run id: trial number} of the sweep's trial runs still RUNNING."""
        runs = self.client.search_runs(
            [experiment_id],
            filter_string=(
                f"tags.`{schema.PARENT_RUN_ID}` = '{sweep_run_id}' "
                "and attributes.status = 'RUNNING'"
            ),
            max_results=1000,
        )
        return {run.info.run_id: _trial_number(run.data.tags) for run in runs}


def trial_run_id(
    client: MlflowClient, experiment_id: str, sweep_run_id: str, trial: int
) -> str | None:
    """The run of trial `trial` of a sweep, if one exists (the latest)."""
    runs = client.search_runs(
        [experiment_id],
        filter_string=(
            f"tags.`{schema.PARENT_RUN_ID}` = '{sweep_run_id}' "
            f"and tags.`{schema.TRIAL}` = '{trial}'"
        ),
        max_results=1,
        order_by=["attributes.start_time DESC"],
    )
    return str(runs[0].info.run_id) if runs else None


def trial_order(record: TrialRecord) -> tuple[int, int, str]:
    """Trial number, then the latest run first (MLflow's own order): the same list however
    the runs were read (in one piece or in two, reporting/helper.py)."""
    return (record.trial, -record.start_time, record.run_id)


def _started(since_ms: int | None, before_ms: int | None) -> str:
    """Filter terms for runs started in [since_ms, before_ms) (either end may be open)."""
    ends = ((">=", since_ms), ("<", before_ms))
    return "".join(f" and attributes.start_time {op} {ms}" for op, ms in ends if ms is not None)


def _trial_number(tags: Mapping[str, str]) -> int | None:
    number = tags.get(schema.TRIAL, "")
    return int(number) if number.isdigit() else None


def _trials_of(sweep_run_id: str, state: str) -> str:
    """A filter for the trial runs of one sweep whose `hpo.state` tag is `state`."""
    return (
        f"tags.`{schema.PARENT_RUN_ID}` = '{sweep_run_id}' "
        f"and tags.`{schema.KIND}` = '{schema.KIND_TRIAL}' and tags.`{schema.STATE}` {state}"
    )


def _is_trial(run: Run) -> bool:
    return run.data.tags.get(schema.KIND) == schema.KIND_TRIAL


def _trial_record(run: Run) -> TrialRecord:
    return TrialRecord(
        trial=int(run.data.tags.get(schema.TRIAL, -1)),
        run_id=run.info.run_id,
        state=run.data.tags.get(schema.STATE, "RUNNING"),
        params=dict(run.data.params),
        metrics={
            k: v
            for k, v in run.data.metrics.items()
            if k not in EPOCH_METRICS and not k.endswith(FOLD_SUFFIX)
        },
        has_model=run.data.tags.get(schema.MODEL) == schema.MODEL_LOGGED,
        start_time=run.info.start_time or 0,
        end_time=run.info.end_time or 0,
    )


def _sweep_info(run: Run) -> SweepInfo:
    tags = run.data.tags
    return SweepInfo(
        run_id=run.info.run_id,
        experiment_id=run.info.experiment_id,
        study=tags.get(schema.STUDY, ""),
        strategy=tags.get(schema.STRATEGY, ""),
        objective=tags.get(schema.OBJECTIVE, "f1"),
        direction=tags.get(schema.DIRECTION, "maximize"),
        status=run.info.status,
        start_time=run.info.start_time,
        objectives=tags.get(schema.OBJECTIVES, ""),
        constraints=tags.get(schema.CONSTRAINTS, ""),
    )


def mlflow_client(
    uri: str, backoff: Backoff = READ_BACKOFF, notify: Callable[[str], None] | None = None
) -> MlflowClient:
    """The one way hpo opens MLflow: `postgresql://` gets the psycopg2 driver named (the only
    driver hpo installs), the registry lives in the same store as the runs, and every call
    rides out a short outage or a locked database (hpo.tracking.retry; a sweep's writes
    pass a longer `backoff`)."""
    driver_uri = with_driver(uri)

    def connect() -> MlflowClient:
        return MlflowClient(tracking_uri=driver_uri, registry_uri=driver_uri)

    return retrying_client(connect, uri, backoff, notify)
