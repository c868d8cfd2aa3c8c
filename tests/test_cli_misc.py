"""The smaller CLI promises: the UI on loopback, the timeout budget, the progress bar."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from hpo.sweep.progress import progress_bar
from tests.conftest import ROOT


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_ui_serves_the_mlflow_ui_on_loopback(workdir):
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "hpo.cli", "ui", "--port", str(port)],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        body = ""
        while time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as reply:
                    body = reply.read().decode(errors="replace")
                    break
            except OSError:
                time.sleep(0.5)
        assert "MLflow" in body or "mlflow" in body
        listening = subprocess.run(["ss", "-ltn"], capture_output=True, text=True).stdout
        bound = [line for line in listening.splitlines() if f":{port} " in line]
        assert bound and all("127.0.0.1" in line for line in bound), bound
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@pytest.mark.slow
def test_timeout_stops_starting_new_trials(cli, write_config):
    path = write_config(**{"budget.trials": 50})
    done = cli("run", str(path), "--timeout", "0.5", "--json", "--study", "t")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert 1 <= summary["n_trials"] < 50


def test_progress_bar_shows_count_and_best(capsys):
    with progress_bar("study-x", "f1", enabled=True) as update:
        assert update is not None
        update(1, 3, 0.5)
        update(2, 3, 0.75)
    err = capsys.readouterr().err
    assert "2/3" in err and "best f1=0.7500" in err and "study-x" in err


def test_progress_bar_is_silent_when_disabled(capsys):
    with progress_bar("s", "f1", enabled=False) as update:
        assert update is None
    assert capsys.readouterr().err == ""
