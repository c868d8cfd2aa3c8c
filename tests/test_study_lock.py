"""One writer per study on a file ledger: a second `hpo run` of a running study exits 2 at once,
naming the first; a killed holder's lock goes with it; default names never collide."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend

from hpo.study.file_locks import study_lock_path
from hpo.study.storage import ledger_file
from hpo.sweep.setup import default_study_name
from tests.conftest import ROOT

JOURNAL = "hpo-ledger.journal"


def _start(path: Path, workdir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hpo.cli", "run", str(path), "--study", "x", "--json", *args],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,  # its own process group: kill -9 takes its training processes
    )


def _wait_for(what: str, ready, process: subprocess.Popen[str], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, (what, process.communicate())
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _trials(workdir: Path) -> list[optuna.trial.FrozenTrial]:
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(workdir / JOURNAL)))
    return optuna.load_study(study_name="x", storage=storage).get_trials()


def _descendants(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [d for child in map(int, children) for d in (child, *_descendants(child))]


def _asked(workdir: Path) -> int:
    journal = workdir / JOURNAL
    return journal.read_text().count('"op_code":4,') if journal.exists() else 0


@pytest.mark.slow
def test_a_second_run_of_a_running_study_is_refused_and_a_killed_one_resumes(
    write_config, workdir, cli
):
    path = write_config(**{"budget.trials": 3, "budget.epochs": 2})
    first = _start(path, workdir)
    # it holds the study from before it opens the ledger to the end: once it asked, it is busy
    _wait_for("the first run to ask a trial", lambda: _asked(workdir) >= 1, first)
    # its training processes pause while the second run starts, so the first cannot finish
    # its trials before the second reaches the lock, however loaded the machine is
    trainers = _descendants(first.pid)
    assert trainers, "the first run has no training process"
    for pid in trainers:
        os.kill(pid, signal.SIGSTOP)
    started = time.monotonic()
    try:
        second = cli("run", str(path), "--study", "x", "--json")
    finally:
        for pid in trainers:
            os.kill(pid, signal.SIGCONT)
    assert second.returncode == 2, second.stderr
    assert time.monotonic() - started < 60  # at once: no training, no waiting
    assert "Traceback" not in second.stderr and second.stdout == ""
    (line,) = second.stderr.splitlines()
    assert line.startswith("hpo: error:")
    assert f"process {first.pid} on host {socket.gethostname()}" in line and "'x'" in line

    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert json.loads(out)["states"]["COMPLETE"] == 3  # undisturbed, and nobody else trained
    assert [t.state.name for t in _trials(workdir)] == ["COMPLETE"] * 3

    # kill -9 a resume while it trains: the OS drops its lock, so the next resume just works
    victim = _start(path, workdir, "--trials", "4")
    _wait_for("the resume to ask a trial", lambda: _asked(workdir) == 4, victim)
    os.killpg(victim.pid, signal.SIGKILL)  # the group: its training process too
    victim.communicate(timeout=60)
    after = cli("run", str(path), "--study", "x", "--trials", "4", "--json")
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout)["states"]["COMPLETE"] == 4


def test_default_study_names_differ_within_one_second():
    names = [default_study_name("tiny") for _ in range(1000)]  # well within one second
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"tiny-\d{8}-\d{6}-[0-9a-f]{6}", name) for name in names)


@pytest.mark.parametrize(
    ("storage", "file"),
    [
        (None, JOURNAL),
        ("runs/l.journal", "runs/l.journal"),
        ("journal://runs/l.journal", "runs/l.journal"),
        ("sqlite:///runs/l.db", "runs/l.db"),
        ("sqlite:////abs/l.db", "/abs/l.db"),
        ("sqlite:///:memory:", None),
        ("postgresql://u:p@host/db", None),  # shared by workers: Optuna coordinates them
    ],
)
def test_only_one_machine_ledgers_take_the_study_lock(storage, file):
    assert ledger_file(storage) == (Path(file) if file else None)


def test_any_study_name_gets_its_own_safe_lock_file(tmp_path):
    names = ["x", "a/b", "../up", "it's", "x" * 300]
    paths = [study_lock_path(tmp_path / JOURNAL, name) for name in names]
    assert len(set(paths)) == len(names)
    assert all(p.parent == tmp_path / f"{JOURNAL}.locks" and len(p.name) < 120 for p in paths)
