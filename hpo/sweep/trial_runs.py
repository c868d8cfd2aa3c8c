"""A sweep's trial runs in MLflow: a trial's end written into its run, and catching up.

`TrialRuns.log` is the one way a trial's end reaches MLflow, whether it just finished or
was kept in the pending folder (hpo.sweep.pending) by an earlier run while MLflow was
unavailable. `catch_up`, when a sweep starts, logs what was kept and ends every trial run
left RUNNING the way the ledger says its trial ended, so the ledger and MLflow agree.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping, Sequence
from typing import Any

from hpo.study.ledger import Ledger, LedgerTrial
from hpo.sweep.loop import STALE_REASON
from hpo.sweep.pending import PendingFolder, PendingTrial
from hpo.tracking import schema
from hpo.tracking.datasets import SplitInputs, log_inputs
from hpo.tracking.runs import Tracker

_WORKER = f"{socket.gethostname()}:{os.getpid()}"  # which machine and orchestrator ran it
# how long a live worker may take from the ledger's end of a trial to MLflow's (its model's
# upload): another worker ends such a run only once this has passed
LIVE_LOGGING_GRACE_S = 30.0


class TrialRuns:
    """The trial runs of one sweep run."""

    def __init__(
        self,
        tracker: Tracker,
        experiment_id: str,
        sweep_run_id: str,
        tags: Mapping[str, str],
        class_names: Sequence[str],
        inputs: SplitInputs | None = None,
    ):
        self.tracker, self.experiment_id, self.sweep_run_id = tracker, experiment_id, sweep_run_id
        self.tags = {**tags, schema.WORKER: _WORKER}  # every trial run's (strategy, study)
        self.class_names = class_names
        self.inputs = inputs  # the splits as MLflow dataset inputs (hpo/tracking/datasets.py)

    def log_sweep_inputs(self) -> None:
        """The train / validation / test splits on the sweep run."""
        if self.inputs is not None:
            log_inputs(self.tracker.client, self.sweep_run_id, self.inputs.for_sweep())

    def start(self, trial: int, params: Mapping[str, Any]) -> str:
        # one MLflow call: the run exists with its params once this returns (the inputs are
        # logged with the trial's end, so a fault here or there keeps the trial pending)
        return str(
            self.tracker.start_trial(
                self.experiment_id, self.sweep_run_id, trial, params, self.tags
            )
        )

    def log(self, record: PendingTrial) -> None:
        """One trial's end into its run (created first if it never was)."""
        run_id = record.run_id or self.tracker.find_trial_run(
            self.experiment_id, self.sweep_run_id, record.trial
        )
        record.run_id = run_id or self.start(record.trial, record.params)
        if self.inputs is not None:  # the training and validation splits it used
            log_inputs(self.tracker.client, record.run_id, self.inputs.for_trial())
        if record.model_dir:  # a failure from here on keeps the run found above
            self.tracker.log_model_dir(record.run_id, record.model_dir)
        if record.confusion is not None:
            self.tracker.log_confusion(record.run_id, self.class_names, record.confusion)
        self.tracker.finish_trial(
            record.run_id,
            record.state,
            metrics=record.metrics,
            history=record.history,
            error=record.error,
            extra_tags=record.tags,
            killed=record.killed,
        )

    def end_stale(self, numbers: set[int], reason: str) -> None:
        self.tracker.end_trial_runs(self.experiment_id, self.sweep_run_id, numbers, reason)

    def catch_up(self, ledger: Ledger, pending: PendingFolder, *, resumed: bool) -> None:
        """Log the trials kept in the pending folder, then end the trial runs still RUNNING
        as the ledger says those trials ended (a dead orchestrator's, or never logged)."""
        trials = {t.number: t for t in ledger.trials()}
        for record in pending.records():
            known = trials.get(record.trial)
            if known is not None and _same_run(record.run_id, known.run_id):
                record.run_id = record.run_id or known.run_id
                self.log(record)
            # else: left by an earlier study of the same name (its ledger was deleted)
            pending.done(record.trial)
        if ledger.heartbeats:
            # runs of trials failed as stale by a worker that died before it could end them
            # (a stale FAIL has no error attr; every other FAIL has one); other workers may
            # be logging their own trials right now: their runs are theirs to end
            self.end_stale(
                {t.number for t in trials.values() if t.state == "FAIL" and t.error is None},
                STALE_REASON,
            )
            return
        if resumed:  # one orchestrator per study: every RUNNING run was left behind
            self.end_left_running(trials, pending)
        pending.tidy()

    def end_left_running(
        self, trials: Mapping[int, LedgerTrial], pending: PendingFolder, *, grace_s: float = 0.0
    ) -> None:
        """End every trial run of the sweep still RUNNING as its ledger trial ended. Only
        when nobody else trains in the sweep: each such run was left by a dead orchestrator
        (killed after the ledger took its trial's end, before MLflow did). With other
        workers (`grace_s`), a run whose trial ended in the ledger less than `grace_s` ago
        may be a live worker's, still uploading its model from the pending folder this one
        shares: it is waited for, and ended here only if still RUNNING after that."""
        running = self.tracker.running_trial_runs(self.experiment_id, self.sweep_run_id)
        ended = [
            trials[n].completed_at or 0.0 for n in running.values() if n is not None and n in trials
        ]
        deadline = max(ended, default=0.0) + grace_s
        while running and time.time() < deadline:
            time.sleep(0.5)
            running = self.tracker.running_trial_runs(self.experiment_id, self.sweep_run_id)
        for run_id, number in running.items():
            known = trials.get(number) if number is not None else None
            model = pending.model_dir(number) if number is not None else None
            self.log(_as_ledger_says(known, number, run_id, model))


def _same_run(kept: str | None, ledger: str | None) -> bool:
    return kept is None or ledger is None or kept == ledger


def _as_ledger_says(
    trial: LedgerTrial | None, number: int | None, run_id: str, model_dir: str | None
) -> PendingTrial:
    """A run left RUNNING, ended as its ledger trial ended: a COMPLETE or PRUNED trial with
    the metrics the ledger kept (and its model, if it was saved), anything else FAIL."""
    if trial is not None and trial.state in ("COMPLETE", "PRUNED"):
        return PendingTrial(
            trial.number, trial.state, run_id, metrics=trial.metrics, model_dir=model_dir
        )
    failed = trial is not None and trial.state == "FAIL"
    return PendingTrial(
        -1 if number is None else number,
        "FAIL",
        run_id,
        error=(trial.error if failed and trial is not None else None) or STALE_REASON,
        killed=bool(failed and trial is not None and trial.interrupted),
    )
