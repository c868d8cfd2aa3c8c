"""Reads of a big sweep page through MLflow instead of reading every trial run.

One sweep is written straight into a real SQLite MLflow store (no training: the reads are
under test), with ties, failures, pruned trials, a constraint and a few logged models.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hpo.cli.main import main as cli
from hpo.tracking import schema
from hpo.tracking.runs import Tracker
from hpo.tracking.sweeps import SweepView, open_sweep

# trial -> (state, f1, precision, model logged)
TRIALS = {
    0: ("COMPLETE", 0.50, 0.9, True),
    1: ("FAIL", None, None, False),
    2: ("COMPLETE", 0.80, 0.9, True),
    3: ("PRUNED", 0.95, 0.9, False),  # a pruned trial's score never ranks it
    4: ("COMPLETE", 0.90, 0.2, False),  # the best f1, but breaks precision >= 0.5
    5: ("COMPLETE", 0.80, 0.9, False),  # ties trial 2: the earlier one wins
    6: ("COMPLETE", 0.70, 0.9, False),
    7: ("FAIL", None, None, False),
    8: ("COMPLETE", 0.60, 0.9, False),
}


def _new_sweep(uri: str, experiment: str) -> tuple[Tracker, str, str]:
    """A sweep run (study "s", maximize f1) in a new experiment: tracker, experiment, run."""
    tracker = Tracker(uri)
    exp_id = tracker.experiment_id(experiment)
    assert exp_id is not None
    tags = {schema.OBJECTIVE: "f1", schema.DIRECTION: "maximize"}
    return tracker, exp_id, tracker.start_sweep(exp_id, "s", tags, "x: 1\n", None)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("reads")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    tracker, exp_id, sweep = _new_sweep(uri, "big")
    tracker.client.set_tag(sweep, schema.CONSTRAINTS, "precision >= 0.5")
    for number, (state, f1, precision, model) in TRIALS.items():
        run_id = tracker.start_trial(exp_id, sweep, number, {"units": 8 + number}, {})
        metrics = {"f1": f1, "precision": precision} if f1 is not None else {}
        tracker.finish_trial(run_id, state, metrics=metrics, history={})
        if model:
            tracker.client.set_tag(run_id, schema.MODEL, schema.MODEL_LOGGED)
    return uri


def _numbers(records: list) -> list[int]:  # type: ignore[type-arg]
    return [r.trial for r in records]


def test_a_page_of_trials_is_the_start_of_the_full_order_and_reads_no_more(store: str) -> None:
    full = _numbers(open_sweep("big", "s", store).sorted_trials())
    assert full == [4, 2, 5, 6, 8, 0, 3, 1, 7]  # pruned 3 has an f1; 1 and 7 failed
    for limit in (1, 3, 6, 7, 9, 20):
        sweep = open_sweep("big", "s", store)
        assert _numbers(sweep.top(limit)) == full[:limit]
        assert sweep.loaded is None  # one page was read, never every run
    assert _numbers(open_sweep("big", "s", store).top(0)) == full


def test_best_and_the_promotion_pick_read_ranked_pages(store: str) -> None:
    sweep = open_sweep("big", "s", store)
    assert sweep.best().trial == 2  # 4 breaks the constraint; 2 ties 5 and is earlier
    with_model = list(sweep.ranked("f1", "maximize", with_model=True))
    assert _numbers(with_model) == [2, 0]
    assert sweep.loaded is None
    # the whole list gives the same answers
    everything = SweepView(sweep.info, open_sweep("big", "s", store).records)
    assert everything.best().trial == 2
    assert _numbers(list(everything.ranked("f1", "maximize", with_model=True))) == [2, 0]


def test_trials_limit_on_the_command_line(store: str) -> None:
    runner = CliRunner()
    base = ["trials", "big", "--study", "s", "--tracking-uri", store, "--format", "json"]
    default = json.loads(runner.invoke(cli, base).output)
    assert [t["trial"] for t in default] == [4, 2, 5, 6, 8, 0, 3, 1, 7]  # fewer than 50
    two = json.loads(runner.invoke(cli, [*base, "--limit", "2"]).output)
    assert [t["trial"] for t in two] == [4, 2]
    table = runner.invoke(cli, [*base[:-2], "--limit", "2"])
    assert table.exit_code == 0 and "--limit 0 lists all" in table.stderr
    bad = runner.invoke(cli, [*base, "--limit", "-1"])
    assert bad.exit_code == 2


def test_promote_reads_only_trials_with_a_model_when_they_settle_it(
    store: str, tmp_path: Path
) -> None:
    from hpo.deploy.promote import _select

    sweep = open_sweep("big", "s", store)
    assert _select(sweep, "f1", ["units>=9"]).trial == 2
    assert sweep.loaded is None
    with pytest.raises(Exception, match="no metric or parameter 'nope'"):
        _select(sweep, "f1", ["nope>=1"])  # unclear: every trial read, the exact error
    assert sweep.loaded is not None


def test_promote_without_any_model_says_so_from_one_page(tmp_path: Path) -> None:
    """No trial has a model and nothing is to be met: the best completed trial is enough to
    say why (no model, no such metric, no completed trial); no run is read beyond it."""
    from hpo.deploy.promote import _select

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker, exp_id, sweep_id = _new_sweep(uri, "nomodel")
    for number, f1 in enumerate((0.4, 0.9, 0.6)):
        run_id = tracker.start_trial(exp_id, sweep_id, number, {"units": number}, {})
        tracker.finish_trial(run_id, "COMPLETE", metrics={"f1": f1}, history={})
    for metric, error in (("f1", "has a logged model"), ("recall", "no trial has metric")):
        sweep = open_sweep("nomodel", "s", uri)
        with pytest.raises(Exception, match=error):
            _select(sweep, metric, [])
        assert sweep.loaded is None  # every run was never read


def test_searches_run_without_the_cyclic_collector(store: str) -> None:
    """A search makes many short-lived objects; Python's cyclic collector walking the heap
    after each batch of them more than doubled the time to read 10,000 runs."""
    import gc

    sweep = open_sweep("big", "s", store)
    client = Tracker(store).client
    started: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(info["generation"])

    search, ids = client.search_runs, [sweep.info.experiment_id]
    threshold = gc.get_threshold()
    gc.callbacks.append(count)
    gc.set_threshold(1)  # any allocation would set off a collection
    try:
        runs = search(ids, max_results=100)
        during_search = len(started)
        client.get_run(runs[0].info.run_id)  # not a bulk read: the collector runs
    finally:
        gc.set_threshold(*threshold)
        gc.callbacks.remove(count)
    assert len(runs) == len(TRIALS) + 1  # the trials and their sweep run
    # the few are the call's own set-up before the pause (5 here); the search's thousands of
    # objects set off none (2,531 collections with the collector on)
    assert during_search <= 10 and len(started) > during_search
    assert gc.isenabled()


def test_the_sqlite_store_gets_query_statistics_at_the_end_of_a_sweep_and_on_reading(
    tmp_path: Path,
) -> None:
    """Without them SQLite scans every run's metric once per run to order by a metric
    (7.4 s for one page at 10,000 trials, 0.15 s with them: docs/benchmarks.md)."""
    import sqlite3

    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    tracker, _, sweep = _new_sweep(uri, "stats")

    def analysed() -> bool:
        with sqlite3.connect(db) as con:
            found = con.execute("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")
            return found.fetchone() is not None and bool(
                con.execute("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'runs'").fetchone()[0]
            )

    assert not analysed()
    tracker.end_sweep(sweep, "FINISHED")
    assert analysed()
    with sqlite3.connect(db) as con:
        con.execute("DELETE FROM sqlite_stat1")  # a store whose sweep was killed
    assert not analysed()
    open_sweep("stats", "s", uri)
    assert analysed()
