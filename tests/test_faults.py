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


# the third trial's builder signals that it runs, then holds: a trial certainly in flight
HOLDING_BUILDER = """\
import os
import time
from pathlib import Path

from hpo.models.mlp import build as mlp


def build(params, input_shape, n_classes):
    model = mlp(params, input_shape, n_classes)
    built = len(list(Path(".").glob("built-*")))
    Path(f"built-{built}").touch()
    if built == 2 and os.environ.get("HOLD_THE_THIRD_TRIAL"):
        Path("holding").touch()
        time.sleep(600)
    return model
"""


def _ledger_trials(workdir: Path, study: str) -> list:
    import optuna
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(
        JournalFileBackend(str(workdir / "hpo-ledger.journal"))
    )
    return optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_interrupt_ends_cleanly_and_resume_finishes(how, write_config, workdir, cli):
    (workdir / "holding_builder.py").write_text(HOLDING_BUILDER)
    path = write_config(**{"budget.trials": 10, "model.builder": "python:holding_builder:build"})
    python_path = f"{workdir}{os.pathsep}{ROOT}"
    process = subprocess.Popen(
        [sys.executable, "-m", "hpo.cli", "run", str(path), "--study", "int", "--json"],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": python_path, "HOLD_THE_THIRD_TRIAL": "1"},
        start_new_session=True,
    )
    deadline = time.monotonic() + 180
    # two trials logged and the third one training: the signal lands on a trial in flight
    while _finished_trials(workdir / "mlflow.db") < 2 or not (workdir / "holding").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the third trial did not start in time"
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
    assert sorted(r.data.tags["hpo.trial"] for r in complete) == ["0", "1"]
    assert len(interrupted) == 1 and interrupted[0].data.tags["hpo.trial"] == "2"
    assert "interrupted" in interrupted[0].data.tags["hpo.error"]
    assert interrupted[0].info.status == "KILLED"
    ledger = {t.number: t for t in _ledger_trials(workdir, "int")}
    assert sorted(ledger) == [0, 1, 2]  # nothing was asked after the signal
    assert ledger[2].state.name == "FAIL" and ledger[2].user_attrs.get("hpo.interrupted")
    assert ledger[2].user_attrs.get("hpo.run_id") == interrupted[0].info.run_id

    # resume: the completed trials count, the interrupted one does not (so one more runs)
    resumed = cli(
        "run",
        str(path),
        "--study",
        "int",
        "--trials",
        "3",
        "--json",
        env={"PYTHONPATH": python_path},
    )
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["sweep_run_id"] == sweep.info.run_id
    assert summary["states"] == {"COMPLETE": 3, "PRUNED": 0, "FAIL": 1}
    after = client.search_runs([exp.experiment_id], max_results=500)
    assert client.get_run(sweep.info.run_id).info.status == "FINISHED"
    assert not [r for r in after if r.info.status == "RUNNING"]
    assert {r.info.run_id for r in complete} <= {r.info.run_id for r in after}
    redone = [r for r in after if r.data.tags.get("hpo.trial") == "3"]
    assert len(redone) == 1 and redone[0].data.tags["hpo.state"] == "COMPLETE"


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
