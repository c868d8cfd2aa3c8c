"""`hpo serve` stops its whole process tree when it is stopped (SIGINT, SIGTERM, SIGHUP).

A service manager or a closed terminal signals only the process it started; whatever that
process started (MLflow's CLI, uvicorn, its workers) must go too, and the port must be free.
The signal goes to the hpo process alone, never to its process group.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.models_helpers import SweepDir, sweep_dir
from tests.serve_helpers import (
    free_port,
    port_is_free,
    process_tree,
    start_serve,
    still_running,
    wait_until_serving,
)


def _wait_gone(tree: list[tuple[int, float]], timeout: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := still_running(tree)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


# a server stand-in: a child with 2 children, one in its group, one in a session of its own
TREE_SCRIPT = """
import os, subprocess, sys, time
sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
subprocess.Popen(sleeper)
subprocess.Popen(sleeper, start_new_session=True)
time.sleep(600)
"""
SUPERVISOR = """
import sys
from hpo.child_process import run_child
sys.exit(run_child([sys.executable, "-c", {script!r}], {{}}))
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_run_child_stops_the_whole_tree_on_each_signal(tmp_path: Path, sig: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR.format(script=TREE_SCRIPT)],
        env=env,
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    tree: list[tuple[int, float]] = []
    try:
        deadline = time.monotonic() + 60
        while len(tree := process_tree(supervisor.pid)) < 3:  # the child and its 2 sleepers
            assert supervisor.poll() is None, supervisor.stderr.read() if supervisor.stderr else ""
            assert time.monotonic() < deadline, f"the tree did not start: {tree}"
            time.sleep(0.1)
        supervisor.send_signal(sig)
        assert supervisor.wait(timeout=30) == 128 + sig
        assert _wait_gone(tree) == []
        stderr = supervisor.stderr.read() if supervisor.stderr else ""
        assert f"hpo: {signal.Signals(sig).name}: stopped the server" in stderr
    finally:
        _kill_left(supervisor, tree)


def _kill_left(process: subprocess.Popen[str], tree: list[tuple[int, float]]) -> None:
    """A failed test leaves nothing running either."""
    for pid in still_running([*tree, *process_tree(process.pid)]):
        os.kill(pid, signal.SIGKILL)
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SweepDir, str]]:
    for folder in sweep_dir(tmp_path_factory, "serve_tree"):
        summary = folder.run_sweep("t", **{"budget.trials": 1})
        yield folder, f"runs:/{summary['best']['run_id']}/model"


@pytest.mark.slow
def test_sigterm_to_hpo_serve_leaves_no_process_and_frees_the_port(
    served: tuple[SweepDir, str],
) -> None:
    folder, uri = served
    port = free_port()
    server = start_serve(folder, uri, port, "--workers", "2")
    tree: list[tuple[int, float]] = []
    try:
        wait_until_serving(server, port)
        tree = process_tree(server.pid)
        assert len(tree) >= 3, tree  # MLflow's CLI, uvicorn, its 2 workers (+ helpers)
        server.send_signal(signal.SIGTERM)  # to hpo alone, as `kill PID` does
        assert server.wait(timeout=60) == 128 + signal.SIGTERM
        left = _wait_gone(tree)
        assert left == [], json.dumps(left)
        assert port_is_free(port)
    finally:
        _kill_left(server, tree)
