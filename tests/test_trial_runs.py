"""The last worker of a shared sweep ends the runs a dead worker left RUNNING, and leaves a
live worker's alone while it is still logging (a real SQLite MLflow store, no training)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from hpo.study.ledger import LedgerTrial
from hpo.sweep.pending import PendingFolder
from hpo.sweep.trial_runs import TrialRuns
from hpo.tracking.runs import Tracker


def _sweep(tmp_path: Path) -> tuple[Tracker, TrialRuns, str]:
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp_id = tracker.experiment_id("shared")
    assert exp_id is not None
    sweep = tracker.start_sweep(exp_id, "s", {}, "x: 1\n", None)
    run_id = tracker.start_trial(exp_id, sweep, 0, {"units": 8}, {})
    return tracker, TrialRuns(tracker, exp_id, sweep, {}, ["a", "b"]), run_id


def _ended_in_the_ledger(run_id: str, seconds_ago: float) -> dict[int, LedgerTrial]:
    trial = LedgerTrial(
        number=0,
        state="COMPLETE",
        params={"units": 8},
        values=(0.5,),
        run_id=run_id,
        metrics={"f1": 0.5},
        interrupted=False,
        completed_at=time.time() - seconds_ago,
    )
    return {0: trial}


def test_a_live_workers_run_is_left_to_it(tmp_path: Path) -> None:
    """Its worker ends it 1 s after the ledger did (uploading its model meanwhile): the last
    worker waits instead of logging the same trial over it (and removing the model folder
    the live worker is uploading from: the race a 3-worker grid test met in CI)."""
    tracker, runs, run_id = _sweep(tmp_path)

    def live_worker() -> None:
        time.sleep(1.0)
        tracker.finish_trial(run_id, "COMPLETE", metrics={"f1": 0.5}, history={})

    thread = threading.Thread(target=live_worker)
    thread.start()
    runs.end_left_running(
        _ended_in_the_ledger(run_id, 0.0), PendingFolder(tmp_path / "pending"), grace_s=20.0
    )
    thread.join()
    assert tracker.client.get_run(run_id).info.status == "FINISHED"
    assert len(tracker.client.get_metric_history(run_id, "f1")) == 1  # logged once: its own


def test_a_dead_workers_run_is_ended_as_the_ledger_says_after_the_grace(tmp_path: Path) -> None:
    tracker, runs, run_id = _sweep(tmp_path)
    started = time.monotonic()
    runs.end_left_running(
        _ended_in_the_ledger(run_id, 1.0), PendingFolder(tmp_path / "pending"), grace_s=2.5
    )
    assert time.monotonic() - started >= 1.0  # waited out the rest of the grace
    run = tracker.client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["f1"] == pytest.approx(0.5)
