"""`hpo ui` stops everything it started when it is told to stop, and lands on the sweep.

SIGTERM is what a service manager or a closed terminal sends to the one pid it knows; the
MLflow server below `hpo ui` (and its uvicorn) must go with it, and the port must be free.
The store is a real MLflow SQLite database holding a sweep run written by hpo's own writer.
"""

from __future__ import annotations

import signal
import time

import pytest

from hpo.tracking.runs import Tracker
from hpo.tracking.schema import EXPERIMENT_KIND, EXPERIMENT_KIND_TRAINING
from tests.ui_helpers import (
    alive,
    cmdline,
    descendants,
    free_port,
    port_free,
    start_ui,
    stop_quietly,
    wait_for_link,
)

pytestmark = pytest.mark.slow


def _store_with_a_sweep(workdir) -> str:
    """mlflow.db with experiment `tiny` and one sweep run, as `hpo run` writes them."""
    tracker = Tracker(f"sqlite:///{workdir / 'mlflow.db'}")
    experiment_id = tracker.experiment_id("tiny")
    assert experiment_id is not None
    assert tracker.client.get_experiment(experiment_id).tags[EXPERIMENT_KIND] == (
        EXPERIMENT_KIND_TRAINING
    )
    run_id = tracker.start_sweep(experiment_id, "tree-study", {}, "name: tiny\n", None)
    tracker.end_sweep(run_id, "FINISHED")
    return experiment_id


def test_sigterm_to_hpo_ui_stops_the_whole_tree_and_frees_the_port(workdir):
    experiment_id = _store_with_a_sweep(workdir)
    port = free_port()
    ui = start_ui(workdir, port)
    tree: set[int] = set()
    try:
        study, url = wait_for_link(ui)
        assert study == "tree-study"
        assert url == (
            f"http://127.0.0.1:{port}/#/experiments/{experiment_id}/runs"
            "?workflowType=machine_learning"
        )
        tree = descendants(ui.process.pid)
        # hpo ui, mlflow server, its uvicorn: one web worker, no job runner and its consumers
        assert 2 <= len(tree - {ui.process.pid}) <= 2, [cmdline(p) for p in tree]
        assert not any("huey" in cmdline(p) for p in tree)
        assert not port_free(port)

        ui.process.send_signal(signal.SIGTERM)
        assert ui.process.wait(timeout=15) == 130
        assert ui.stderr.rstrip().endswith("hpo: interrupted")
        assert "Traceback" not in ui.stderr

        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (
            any(alive(pid) for pid in tree) or not port_free(port)
        ):
            time.sleep(0.1)
        assert [cmdline(pid) for pid in tree if alive(pid)] == []
        assert port_free(port)
    finally:
        stop_quietly(ui, tree)
