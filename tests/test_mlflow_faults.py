"""MLflow failing where the ledger did not loses nothing, and never splits the two stores.

The outage is real: another process holds `mlflow.db` locked with an exclusive SQLite
transaction (what a second writer, a backup tool or a stuck `mlflow ui` does) for longer
than the sweep's patience, then lets go; the sweep is resumed and both stores must tell
the same story: the same state per trial, the same best trial, its model logged.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _hpo(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hpo.cli", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _ledger_states(study: str) -> dict[int, str]:
    from hpo.study.ledger import Ledger

    return {t.number: t.state for t in Ledger.open(None, study, ["maximize"]).trials()}


def _run_id_recorded(journal: Path) -> bool:
    return journal.exists() and '"hpo.run_id"' in journal.read_text(encoding="utf-8")


def _mlflow_runs(workdir: Path) -> tuple[MlflowClient, list]:
    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tiny")
    return client, client.search_runs([experiment.experiment_id], max_results=500)


def test_mlflow_locked_mid_sweep_loses_nothing_and_the_resume_makes_both_stores_agree(
    write_config, workdir, cli
):
    path = write_config(**{"budget.trials": 3, "budget.epochs": 2, "data.max_samples": 600})
    sweep = _hpo("run", str(path), "--study", "s", "--db-patience", "1", "--json", cwd=workdir)
    db = workdir / "mlflow.db"
    deadline = time.monotonic() + 180
    journal = workdir / "hpo-ledger.journal"
    # the ledger holds trial 0's run id once the run's start (create + params) returned: it
    # trains now. (Its params in mlflow.db came too early: MLflow's log_batch still reads
    # after committing them, and a lock taken then failed the start, not the trial's end.)
    while not _run_id_recorded(journal):
        assert sweep.poll() is None, sweep.communicate()
        assert time.monotonic() < deadline, "trial 0 never started"
        time.sleep(0.05)
    lock = sqlite3.connect(db, isolation_level=None, timeout=30)
    lock.execute("BEGIN EXCLUSIVE")  # nobody reads or writes mlflow.db until the rollback
    try:
        _, stderr = sweep.communicate(timeout=240)
    finally:
        lock.execute("ROLLBACK")
        lock.close()

    # MLflow stayed locked past the patience: one warning naming the kept trial, one error
    assert sweep.returncode == 1, stderr
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    store = "sqlite:///mlflow.db"
    assert lines[-1].startswith(f"hpo: error: the MLflow tracking store {store} is unavailable")
    assert "database is locked" in lines[-1]
    pending = workdir / ".hpo-pending" / "s"
    warnings = [line for line in lines if str(pending) in line]
    assert len(warnings) == 1 and warnings[0].startswith("hpo: warning: trial 0 ")
    assert (pending / "trial-0.json").is_file()
    assert (pending / "trial-0" / "MLmodel").is_file()  # the first trial's model, kept
    assert _ledger_states("s")[0] == "COMPLETE"  # the ledger had it before MLflow failed
    client, runs = _mlflow_runs(workdir)
    trial_0 = next(r for r in runs if r.data.tags.get("hpo.trial") == "0")
    assert trial_0.info.status == "RUNNING"  # not logged yet, and certainly not FAILED

    resumed = cli("run", str(path), "--study", "s", "--json")
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)  # the ledger's view
    assert not pending.exists() and not (workdir / ".hpo-pending").exists()

    ledger = _ledger_states("s")
    client, runs = _mlflow_runs(workdir)
    assert not [r for r in runs if r.info.status == "RUNNING"]
    trial_runs = [r for r in runs if r.data.tags["hpo.kind"] == "trial"]
    mlflow_states = {int(r.data.tags["hpo.trial"]): r.data.tags["hpo.state"] for r in trial_runs}
    assert len(trial_runs) == len(mlflow_states)  # one run per trial, none twice
    assert mlflow_states == ledger
    assert ledger[0] == "COMPLETE" and ledger[1] == "FAIL"  # trial 1 was stopped with the sweep
    assert summary["states"]["COMPLETE"] == 3  # the interrupted trial was not counted

    # trial 0 got what it had when MLflow failed: its model, timings, confusion matrix
    trial_0 = client.get_run(trial_0.info.run_id)
    assert trial_0.info.status == "FINISHED" and trial_0.data.tags["hpo.model"] == "logged"
    assert "fit_seconds" in trial_0.data.metrics and "f1" in trial_0.data.metrics
    artifacts = {a.path for a in client.list_artifacts(trial_0.info.run_id)}
    assert {"model", "confusion_matrix.json"} <= artifacts

    best = cli("best", "tiny", "--study", "s", "--json")
    assert best.returncode == 0, best.stderr
    mlflow_best = json.loads(best.stdout)
    assert (mlflow_best["trial"], mlflow_best["run_id"]) == (
        summary["best"]["trial"],
        summary["best"]["run_id"],
    )
    sweep_run = next(r for r in runs if r.data.tags["hpo.kind"] == "sweep")
    assert sweep_run.info.status == "FINISHED"
    assert sweep_run.data.tags["hpo.best_run_id"] == summary["best"]["run_id"]
    best_files = {a.path for a in client.list_artifacts(mlflow_best["run_id"], "model")}
    assert "model/MLmodel" in best_files


def test_a_locked_mlflow_db_is_one_line_for_a_read(workdir, cli):
    MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}").create_experiment("tiny")
    lock = sqlite3.connect(workdir / "mlflow.db", isolation_level=None, timeout=30)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        done = cli("trials", "tiny")
        took = time.monotonic() - started
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines() == [
        line for line in done.stderr.strip().splitlines() if line.startswith("hpo: error: ")
    ]
    assert "database is locked" in done.stderr
    assert took < 60  # MLflow's own 20 s wait for the lock, then one short retry at most


def test_a_resume_ends_a_run_left_running_as_the_ledger_says(write_config, workdir, cli):
    """The orchestrator died between the ledger and MLflow (kill -9, power cut): the trial
    is COMPLETE in the ledger, its run RUNNING without a state. The next run must finish it
    COMPLETE with the ledger's metrics, not FAILED as a stale trial."""
    path = write_config(**{"budget.trials": 1})
    first = cli("run", str(path), "--study", "s", "--json")
    assert first.returncode == 0, first.stderr
    client, runs = _mlflow_runs(workdir)
    trial_0 = next(r for r in runs if r.data.tags["hpo.kind"] == "trial")
    f1 = trial_0.data.metrics["f1"]
    client.update_run(trial_0.info.run_id, status="RUNNING")
    client.delete_tag(trial_0.info.run_id, "hpo.state")

    again = cli("run", str(path), "--study", "s", "--json")  # the budget is spent: no training
    assert again.returncode == 0, again.stderr
    after = client.get_run(trial_0.info.run_id)
    assert after.info.status == "FINISHED"
    assert after.data.tags["hpo.state"] == "COMPLETE" == _ledger_states("s")[0]
    assert after.data.metrics["f1"] == pytest.approx(f1)


def test_a_listener_failing_on_one_trial_still_hears_the_others_and_the_ledger_has_all() -> None:
    """Two trials settle together and the tracking listener fails on the first of them: it
    must still hear the second (it keeps what it cannot write), and the sweep ends FAILED
    with the listener's error, every trial in the ledger."""
    from tests.test_sweep_loop import Log, experiment, make_sweep, new_ledger

    events: list[tuple] = []

    class FailsOnTheFirstEnd(Log):
        def on_trial_end(self, trial, result, standing, *, killed):  # type: ignore[no-untyped-def]
            super().on_trial_end(trial, result, standing, killed=killed)
            if sum(e[1] == "trial_end" for e in events) == 1:
                raise OSError("no space left on device")

    ledger = new_ledger()
    listener = FailsOnTheFirstEnd("m", events)
    sweep = make_sweep(experiment(**{"budget.trials": 4}), ledger, listeners=[listener], workers=2)
    with pytest.raises(OSError, match="no space"):
        sweep.run()
    ended = [e[2] for e in events if e[1] == "trial_end"]
    assert sorted(ended[:2]) == [0, 1]  # the second was heard although the first failed
    assert events[-1] == ("m", "sweep_end", "FAILED")
    assert sorted(ended) == [t.number for t in ledger.trials()]  # in flight ones too
    assert [t.state for t in ledger.trials()][:2] == ["COMPLETE", "COMPLETE"]
