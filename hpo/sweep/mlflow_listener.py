"""The sweep in MLflow: one parent run per sweep, one child run per trial (hpo.tracking).

A listener on the sweep loop (hpo.sweep.listeners). `MlflowListener.open` creates the sweep
run, or joins the study's existing one on resume: its id is kept in the ledger's attributes,
written under the ledger's claim, so workers started together on PostgreSQL share one. A
trial's run is created while it trains and ended once the ledger holds its outcome.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from contextlib import suppress

from hpo.search.base import TrialRequest
from hpo.study.ledger import SWEEP_RUN_ATTR, Ledger
from hpo.sweep.listeners import SweepEnd, SweepListener
from hpo.sweep.loop import STALE_REASON
from hpo.sweep.preflight import Checked
from hpo.sweep.summary import Standing
from hpo.tracking import schema
from hpo.tracking.runs import Tracker
from hpo.trial.task import TrialResult
from hpo.urls import mask_secrets, mask_url

_WORKER = f"{socket.gethostname()}:{os.getpid()}"  # which machine and orchestrator ran it


class MlflowListener(SweepListener):
    def __init__(
        self,
        tracker: Tracker,
        ledger: Ledger,
        checked: Checked,
        experiment_id: str,
        sweep_run_id: str,
    ):
        self.tracker, self.ledger, self.checked = tracker, ledger, checked
        self.experiment_id, self.sweep_run_id = experiment_id, sweep_run_id
        self._runs: dict[int, str] = {}  # trial number -> its run, while it is open

    @classmethod
    def open(
        cls, tracker: Tracker, ledger: Ledger, checked: Checked, storage: str | None
    ) -> MlflowListener:
        """Create or rejoin the study's sweep run, and end the runs of trials left behind."""
        exp = checked.experiment
        experiment_id = tracker.experiment_id(exp.experiment_name)
        assert experiment_id is not None
        tags = {
            schema.STRATEGY: exp.strategy.name,
            schema.CONFIG_SHA256: exp.sha256(),
            schema.DATA_SHA256: checked.dataset.fingerprint,
            schema.OBJECTIVE: exp.primary.metric,
            schema.DIRECTION: exp.primary.direction,
            schema.OBJECTIVES: ",".join(f"{o.metric}:{o.direction}" for o in exp.objectives),
            schema.CONSTRAINTS: ", ".join(map(str, exp.constraints)),
            schema.PRUNER: exp.strategy.pruner,
            schema.AVERAGE: exp.primary.average,
            schema.MODEL_BUILDER: exp.model.builder,
            schema.STORAGE: mask_url(storage or "journal (default)"),
        }
        config_yaml = mask_secrets(exp.to_yaml())  # a password in a URL never reaches MLflow
        with ledger.claim():  # the first worker creates the sweep run, the others join it
            known = ledger.attrs().get(SWEEP_RUN_ATTR)
            existing = tracker.sweep_by_id(known) if known else None
            if existing is None or existing.experiment_id != experiment_id:
                existing = tracker.find_sweep(experiment_id, ledger.name)
            run_id = tracker.start_sweep(experiment_id, ledger.name, tags, config_yaml, existing)
            if known != run_id:
                ledger.set_attrs({SWEEP_RUN_ATTR: run_id})
        if ledger.heartbeats:
            # runs of trials failed as stale by a worker that died before it could end them
            # (a stale FAIL has no error attr; every other FAIL has one)
            stale = {t.number for t in ledger.trials() if t.state == "FAIL" and t.error is None}
            tracker.end_trial_runs(experiment_id, run_id, stale, STALE_REASON)
        elif existing is not None:
            tracker.end_stale_trials(experiment_id, run_id, STALE_REASON)
        return cls(tracker, ledger, checked, experiment_id, run_id)

    def on_trial_start(self, trial: TrialRequest) -> None:
        exp = self.checked.experiment
        run_id = self.tracker.start_trial(
            self.experiment_id,
            self.sweep_run_id,
            trial.number,
            trial.params,
            {
                schema.STRATEGY: exp.strategy.name,
                schema.STUDY: self.ledger.name,
                schema.WORKER: _WORKER,
            },
        )
        self.ledger.set_run_id(trial.number, run_id)
        self._runs[trial.number] = run_id

    def on_trial_end(
        self, trial: TrialRequest, result: TrialResult, standing: Standing, *, killed: bool
    ) -> None:
        """Metrics, tags, the model and the confusion matrix, then the terminal status."""
        run_id = self._runs.pop(trial.number)
        metrics = dict(result.metrics)
        if result.state != "FAIL" or result.fit_seconds:
            metrics.update(
                fit_seconds=result.fit_seconds,
                trial_seconds=result.trial_seconds,
                predict_seconds=result.predict_seconds,
                build_seconds=result.build_seconds,
                n_params=float(result.n_params),
                epochs=float(result.epochs_run),
            )
        if result.model_dir:
            self.tracker.log_model_dir(run_id, result.model_dir)
        if result.confusion is not None:
            names = self.checked.dataset.class_names
            self.tracker.log_confusion(run_id, names, result.confusion)
        self.tracker.finish_trial(
            run_id,
            result.state,
            metrics=metrics,
            history=result.history,
            # a training process's error may quote the ledger URL it failed on
            error=mask_secrets(result.error) if result.state == "FAIL" and result.error else None,
            extra_tags=_result_tags(result),
            killed=killed,
        )

    def on_trials_stale(self, numbers: Sequence[int], reason: str) -> None:
        self.tracker.end_trial_runs(self.experiment_id, self.sweep_run_id, set(numbers), reason)

    def on_sweep_end(self, end: SweepEnd) -> None:
        if end.summary is None:
            self._give_up(end)
            return
        if end.others_running:  # several workers: the last one to stop ends the sweep run
            return
        summary, best = end.summary, end.summary.best
        self.tracker.end_sweep(
            self.sweep_run_id,
            end.status,
            best_metric=summary.objective,
            best_value=best.metrics.get(summary.objective) if best else None,
            best_run_id=best.run_id if best else None,
            summary={f"n_{k.lower()}": float(v) for k, v in summary.states.items()},
        )

    def _give_up(self, end: SweepEnd) -> None:
        """The ledger database is lost: tell MLflow what it can be told, quickly. If its
        server shares the lost database, the next worker to start ends the runs instead."""
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"  # no minutes of retries now
        os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = "5"
        with suppress(Exception):
            for number in end.lost:
                run_id = self._runs.pop(number, None)
                if run_id is not None:
                    self.tracker.finish_trial(
                        run_id, "FAIL", metrics={}, history={}, error=end.error, killed=True
                    )
            self.tracker.end_sweep(self.sweep_run_id, "FAILED")


def _result_tags(result: TrialResult) -> dict[str, str]:
    tags = {schema.WORKER_PID: str(result.worker_pid)} if result.worker_pid else {}
    if result.model_dir:
        tags[schema.MODEL] = schema.MODEL_LOGGED
    if result.pruned_epoch is not None:
        tags[schema.PRUNED_EPOCH] = str(result.pruned_epoch)
    return tags
