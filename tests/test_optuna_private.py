"""Pins hpo.study._optuna_private to the Optuna it was written for.

Every private access hpo makes is exercised here against the installed Optuna, so an upgrade
that renames or removes one fails in this file, naming the access, instead of mid-sweep.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from hpo.study import _optuna_private as private
from hpo.study.heartbeat import StaleTrials

pytestmark = pytest.mark.filterwarnings(
    "ignore::optuna.exceptions.ExperimentalWarning",
    "ignore:Heartbeat of storage is supposed to be used",
)


def _rdb(tmp_path: Path, **heartbeat: Any) -> RDBStorage:
    return RDBStorage(f"sqlite:///{tmp_path / 'o.db'}", **heartbeat)


def test_the_installed_optuna_is_the_major_version_this_module_was_written_for() -> None:
    major = int(optuna.__version__.split(".")[0])
    assert major == private.OPTUNA_MAJOR, (
        f"hpo.study._optuna_private was written for Optuna {private.OPTUNA_MAJOR}.x but "
        f"Optuna {optuna.__version__} is installed: check every function of that module "
        "against the new release, then raise OPTUNA_MAJOR"
    )


def test_storage_of_and_trial_id() -> None:
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage)
    study.ask()
    number = study.ask().number
    assert private.storage_of(study) is storage, "Study._storage moved"
    trial_id = private.trial_id(study, number)
    assert storage.get_trial(trial_id).number == number, "Study._study_id / trial ids changed"


def test_heartbeat_accessors(tmp_path: Path) -> None:
    plain = optuna.storages.InMemoryStorage()
    assert not private.heartbeat_enabled(plain), "storages._heartbeat.is_heartbeat_enabled"
    callback = StaleTrials(max_retry=1)
    rdb = _rdb(tmp_path, heartbeat_interval=7, heartbeat_stale_trial_callback=callback)
    assert private.heartbeat_enabled(rdb), "storages._heartbeat.is_heartbeat_enabled"
    assert private.heartbeat_interval(rdb) == 7.0, "get_heartbeat_interval"
    assert private.stale_trial_callback(rdb) is callback, "get_heartbeat_stale_trial_callback"
    assert private.rdb_engine(rdb).dialect.name == "sqlite", "RDBStorage.engine"


def test_requeued_stale_trials_are_recognised(tmp_path: Path) -> None:
    rdb = _rdb(
        tmp_path,
        heartbeat_interval=1,
        grace_period=1,
        heartbeat_stale_trial_callback=StaleTrials(max_retry=1),
    )
    study = optuna.create_study(storage=rdb)
    stale = study.ask()
    rdb.record_heartbeat(stale._trial_id)
    time.sleep(2.1)
    optuna.storages.fail_stale_trials(study)
    trials = study.get_trials(deepcopy=False)
    waiting = [t for t in trials if t.state == TrialState.WAITING]
    assert len(waiting) == 1 and private.is_requeued(waiting[0]), "system attr failed_trial"
    assert not private.is_requeued(trials[stale.number]), "system attr failed_trial"
    study.ask()  # the retry runs: its history names the stale trial
    assert private.retried_numbers(study.get_trials()) == {stale.number}, "retry_history"
    histories = [private.retry_history(t) for t in study.get_trials()]
    assert histories == [[], [stale.number]], "system attr retry_history"


def test_running_without_heartbeat_reads_optunas_heartbeat_table(tmp_path: Path) -> None:
    rdb = _rdb(tmp_path, heartbeat_interval=60)
    study = optuna.create_study(storage=rdb)
    beaten, orphan = study.ask(), study.ask()
    rdb.record_heartbeat(beaten._trial_id)
    assert private.running_without_heartbeat(study, rdb, 0.0) == [orphan.number], (
        "FrozenTrial._trial_id or the trial_heartbeats table changed"
    )
    assert private.running_without_heartbeat(study, rdb, 3600.0) == []


def test_ledger_journal_file_writes_optunas_format(tmp_path: Path) -> None:
    from optuna.storages.journal import JournalFileBackend

    path = str(tmp_path / "j.journal")
    backend = private.LedgerJournalFile(path, tmp_path / "j.lock", on_repair=print)
    study = optuna.create_study(storage=optuna.storages.JournalStorage(backend), study_name="s")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    again = optuna.storages.JournalStorage(JournalFileBackend(path))  # Optuna's own reader
    assert len(optuna.load_study(study_name="s", storage=again).trials) == 3, (
        "JournalFileBackend._file_path or the journal's record format changed"
    )


def test_needs_sync_reads_optunas_operation_codes() -> None:
    from optuna.storages.journal._storage import JournalOperation as Op

    def log(op: Op, **fields: Any) -> dict[str, Any]:
        return {"op_code": op, **fields}

    assert not private.needs_sync([log(Op.CREATE_TRIAL), log(Op.SET_TRIAL_PARAM)])
    assert not private.needs_sync([log(Op.SET_TRIAL_STATE_VALUES, state=TrialState.RUNNING)])
    assert private.needs_sync([log(Op.SET_TRIAL_STATE_VALUES, state=TrialState.PRUNED)]), (
        "journal._storage.JournalOperation or the 'state' field changed"
    )
    assert private.needs_sync([log(Op.SET_STUDY_USER_ATTR)])


def test_running_trial_reports_to_the_trial_another_process_asked_for() -> None:
    study = optuna.create_study(pruner=optuna.pruners.NopPruner())
    asked = study.ask()
    handle = private.running_trial(study, private.trial_id(study, asked.number))
    handle.report(0.5, step=1)
    assert study.trials[0].intermediate_values == {1: 0.5}
    assert handle.number == asked.number
