"""Faults lose nothing: Ctrl-C / SIGTERM end the sweep KILLED, nothing is left RUNNING,
and the next run resumes the study."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _finished_trials(db: Path) -> int:
    """Count finished trial runs with plain read-only SQL: an MlflowClient here would race
    the CLI's own creation of the database schema."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            (count,) = conn.execute(
                "SELECT count(*) FROM runs JOIN tags ON tags.run_uuid = runs.run_uuid "
                "WHERE tags.key = 'hpo.kind' AND tags.value = 'trial' "
                "AND runs.status = 'FINISHED'"
            ).fetchone()
    except sqlite3.OperationalError:  # schema not created yet
        return 0
    return int(count)


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_interrupt_ends_cleanly_and_resume_finishes(how, write_config, workdir, cli):
    path = write_config(**{"budget.trials": 40, "budget.epochs": 2, "data.max_samples": 600})
    process = subprocess.Popen(
        [sys.executable, "-m", "hpo.cli", "run", str(path), "--study", "int", "--json"],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while _finished_trials(workdir / "mlflow.db") < 2:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no trial finished in time"
        time.sleep(0.3)
    if how == "ctrl-c":  # a terminal sends SIGINT to the whole foreground process group
        os.killpg(process.pid, signal.SIGINT)
    else:
        process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "--study int" in stderr and "Traceback" not in stderr

    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    exp = client.get_experiment_by_name("tiny")
    runs = client.search_runs([exp.experiment_id], max_results=500)
    assert not [r for r in runs if r.info.status == "RUNNING"]
    sweep = next(r for r in runs if r.data.tags["hpo.kind"] == "sweep")
    assert sweep.info.status == "KILLED"
    trials = [r for r in runs if r.data.tags["hpo.kind"] == "trial"]
    complete = [r for r in trials if r.data.tags["hpo.state"] == "COMPLETE"]
    interrupted = [r for r in trials if r.data.tags["hpo.state"] == "FAIL"]
    assert len(complete) >= 2
    assert len(interrupted) <= 1
    for run in interrupted:
        assert "interrupted" in run.data.tags["hpo.error"]
        assert run.info.status in ("FAILED", "KILLED")

    # resume with a small budget: completed trials count, the interrupted one does not
    # (with the study's own epochs: a resume that changes them is refused)
    target = len(complete) + 1
    resumed = cli("run", str(path), "--study", "int", "--trials", str(target), "--json")
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["sweep_run_id"] == sweep.info.run_id
    assert summary["states"]["COMPLETE"] == target
    after = client.search_runs([exp.experiment_id], max_results=500)
    assert client.get_run(sweep.info.run_id).info.status == "FINISHED"
    assert not [r for r in after if r.info.status == "RUNNING"]
    assert {r.info.run_id for r in complete} <= {r.info.run_id for r in after}


def test_workers_are_recycled_and_the_sweep_still_finishes(write_config, workdir, cli):
    path = write_config(**{"budget.trials": 3, "budget.recycle_after": 1})
    done = cli("run", str(path), "--study", "rec", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["states"]["COMPLETE"] == 3
    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    pids = {r.data.tags.get("hpo.worker_pid") for r in runs if r.data.tags["hpo.kind"] == "trial"}
    assert len(pids) == 3  # one fresh process per trial
