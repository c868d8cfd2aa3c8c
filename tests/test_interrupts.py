"""Ctrl-C at any moment of `hpo run`: exit 130, one line, no traceback, no run left RUNNING.

The signal goes to the whole process group, as a terminal sends it, so training processes
that are still starting hear it too. Each moment is found by what the run has written so
far, not by a sleep, so the test hits it on a slow machine as on a fast one.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _query(db: Path, sql: str) -> list[tuple]:
    """Read-only plain SQL: an MlflowClient here would race the CLI's schema creation."""
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:  # schema not created yet
        return []


def _ledger_written(workdir: Path) -> bool:  # the training processes start just before
    return (workdir / "hpo-ledger.journal").exists()


def _mlflow_db_created(workdir: Path) -> bool:  # MLflow is creating its tables right now
    return (workdir / "mlflow.db").exists()


def _trial_training(workdir: Path) -> bool:
    return bool(
        _query(
            workdir / "mlflow.db",
            "SELECT 1 FROM runs JOIN params ON params.run_uuid = runs.run_uuid "
            "WHERE runs.status = 'RUNNING'",
        )
    )


MOMENTS: dict[str, Callable[[Path], bool]] = {
    "set-up": _ledger_written,
    "creating-mlflow-db": _mlflow_db_created,
    "training": _trial_training,
}


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_ctrl_c_at_any_moment_is_exit_130_one_line_and_nothing_left_running(
    moment, write_config, workdir
):
    path = write_config(**{"budget.trials": 6, "budget.epochs": 2, "data.max_samples": 600})
    process = subprocess.Popen(
        [sys.executable, "-m", "hpo.cli", "run", str(path), "--study", "int"],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,
    )
    reached = MOMENTS[moment]
    deadline = time.monotonic() + 180
    while not reached(workdir):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"never reached {moment}"
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("hpo: error: sweep interrupted") and "--study int" in last

    db = workdir / "mlflow.db"
    statuses = _query(db, "SELECT status, count(*) FROM runs GROUP BY status")
    assert "RUNNING" not in dict(statuses), statuses
    if moment != "set-up":  # MLflow's tables were all created, never half of them
        tables = {name for (name,) in _query(db, "SELECT name FROM sqlite_master")}
        assert {"runs", "tags", "params", "metrics", "alembic_version"} <= tables
    if moment == "training":
        sweep = _query(
            db,
            "SELECT runs.status FROM runs JOIN tags ON tags.run_uuid = runs.run_uuid "
            "WHERE tags.key = 'hpo.kind' AND tags.value = 'sweep'",
        )
        assert sweep == [("KILLED",)]


def test_a_signal_while_the_finished_sweep_is_written_waits_for_it() -> None:
    """Ctrl-C during the sweep run's final writes: they complete (FINISHED, not cut in the
    middle), then the command ends as interrupted."""
    from hpo.errors import Interrupted
    from tests.test_sweep_loop import Log, experiment, make_sweep, new_ledger

    events: list[tuple] = []

    class CtrlCAtTheEnd(Log):
        def on_sweep_end(self, end):  # type: ignore[no-untyped-def]
            signal.raise_signal(signal.SIGINT)
            super().on_sweep_end(end)

    sweep = make_sweep(experiment(), new_ledger(), listeners=[CtrlCAtTheEnd("a", events)])
    with pytest.raises(Interrupted, match="had finished"):
        sweep.run()
    assert [e for e in events if e[1] == "sweep_end"] == [("a", "sweep_end", "FINISHED")]
