"""`hpo report`'s helper process (hpo/reporting/helper.py): it reads half of a big sweep's
trial runs and fits the importances, and the report is the same with it, without it, and
when it dies. A real SQLite MLflow store and a real helper process; no training (the reads
and pictures are under test), and the split threshold lowered so a 40-trial sweep splits.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hpo.reporting import build
from hpo.reporting import helper as report_helper
from hpo.reporting.helper import ReportHelper, answer_or, read_in_two
from hpo.tracking import schema
from hpo.tracking.runs import Tracker
from hpo.tracking.sweeps import open_sweep
from tests.conftest import ROOT

TRIALS = 40


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A sweep of 40 trials (two parameters; f1 rises with the learning rate), one of them
    failed, started a few milliseconds apart so a split by start time has two halves."""
    folder = tmp_path_factory.mktemp("helper")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    tracker = Tracker(uri)
    exp_id = tracker.experiment_id("big")
    assert exp_id is not None
    tags = {schema.OBJECTIVE: "f1", schema.DIRECTION: "maximize"}
    sweep = tracker.start_sweep(exp_id, "s", tags, "x: 1\n", None)
    for number in range(TRIALS):
        lr, units = 0.001 * (1 + number % 7), 8 + (number * 5) % 23
        run_id = tracker.start_trial(exp_id, sweep, number, {"lr": lr, "units": units}, {})
        failed = number == 3
        metrics = {} if failed else {"f1": 0.5 + 40 * lr + units / 1000}
        tracker.finish_trial(run_id, "FAIL" if failed else "COMPLETE", metrics=metrics, history={})
        time.sleep(0.005)
    return uri


@pytest.fixture
def split_small(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_helper, "SPLIT_TRIALS", 10)


def _payload(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / "report.json").read_text()))


def test_two_halves_read_by_two_processes_are_the_whole_sweep(store: str, split_small) -> None:
    whole = open_sweep("big", "s", store).records
    sweep = open_sweep("big", "s", store)
    mine: list[int] = []
    read_here = sweep.reads.trials

    def counted(*args: Any, **kwargs: Any) -> Any:
        found = read_here(*args, **kwargs)
        mine.append(len(found))
        return found

    sweep.reads.trials = counted  # type: ignore[method-assign]
    helper = ReportHelper.start(store)
    assert helper is not None
    try:
        read_in_two(sweep, helper)
    finally:
        helper.close()
    assert helper.done == ["trials"]  # the helper read its half
    assert len(mine) == 1 and 0 < mine[0] < TRIALS  # and this process the other one
    assert sweep.loaded == whole  # every run once, in the same order
    assert helper.process.poll() is not None  # closed: no process left behind


def test_the_report_is_the_same_with_the_helper_without_it_and_when_it_dies(
    store: str, split_small, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone = build.build_report(open_sweep("big", "s", store), tmp_path / "alone", store)

    helpers: list[ReportHelper] = []
    start = ReportHelper.start.__func__  # type: ignore[attr-defined]

    def kept(cls: type[ReportHelper], uri: str) -> ReportHelper | None:
        helpers.append(start(cls, uri))
        return helpers[-1]

    monkeypatch.setattr(ReportHelper, "start", classmethod(kept))
    helped = build.write_report("big", "s", tmp_path / "helped", store)
    assert helpers[0].done == ["trials", "importances"]
    assert _payload(tmp_path / "helped") == _payload(tmp_path / "alone")
    assert helped.files == alone.files and "param_importance.png" in helped.files
    assert _payload(tmp_path / "helped")["importances"]  # fANOVA ran (in the helper)

    def dead(cls: type[ReportHelper], uri: str) -> ReportHelper | None:
        helper = start(cls, uri)
        helper.process.kill()
        helper.process.wait()
        helpers.append(helper)
        return helper

    monkeypatch.setattr(ReportHelper, "start", classmethod(dead))
    build.write_report("big", "s", tmp_path / "dead", store)
    assert helpers[-1].done == []  # it answered nothing: this process did both jobs
    assert _payload(tmp_path / "dead") == _payload(tmp_path / "alone")


def test_an_error_in_the_helper_is_done_here_instead(store: str) -> None:
    helper = ReportHelper.start(store)
    assert helper is not None
    try:
        ticket = helper.ask("no such job")
        assert answer_or(helper, ticket, lambda: "done here") == "done here"
        ticket = helper.ask("importances", [], [], "maximize")  # fANOVA of nothing: {}
        assert answer_or(helper, ticket, lambda: "done here") == {}
    finally:
        helper.close()
    assert helper.done == ["importances"]


def test_a_script_without_a_main_guard_is_not_run_again_by_the_helper(
    store: str, tmp_path: Path
) -> None:
    """multiprocessing's spawn would import the caller's main script again in the helper;
    a user's script without `if __name__ == "__main__"` would build its report twice."""
    marks = tmp_path / "marks.txt"
    script = tmp_path / "report_script.py"
    script.write_text(
        "import hpo\n"
        f"open({str(marks)!r}, 'a').write('ran\\n')\n"
        f"hpo.report('big', {str(tmp_path / 'out')!r}, study='s', tracking_uri={store!r})\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert marks.read_text() == "ran\n"
    assert (tmp_path / "out" / "report.json").exists()


def test_the_store_uri_reaches_the_helper_on_its_pipe_not_its_command_line() -> None:
    """`ps` shows every process's arguments to every user; a tracking URI may hold a password.
    (The other tests show the URI on the pipe reaches the helper: it reads that store.)"""
    helper = ReportHelper.start("postgresql://bob:s3cret-pw@127.0.0.1:1/none")
    assert helper is not None
    try:
        assert not any("s3cret" in str(arg) for arg in helper.process.args)  # type: ignore[union-attr]
    finally:
        helper.close()  # it is still trying that store: killed at once
    assert helper.process.poll() is not None
