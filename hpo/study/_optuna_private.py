"""Every use of Optuna's private API, in one place (written for Optuna 5.x).

hpo owns the trial loop rather than calling `Study.optimize`, so it needs a few things Optuna
keeps to itself: the storage behind a study, the storage id of a trial, whether heartbeats
are on, its heartbeat table, its journal file's lock. Each is one small function here, and
tests/test_optuna_private.py exercises every one of them against the installed Optuna, so an
upgrade that moves one fails there, by name, rather than somewhere in a sweep.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import optuna
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

OPTUNA_MAJOR = 5  # the major version these accesses were written for and tested with


def storage_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage behind a study (Optuna has no public accessor)."""
    return study._storage


def trial_id(study: optuna.Study, number: int) -> int:
    """The storage's id of trial `number` of a study (what a training process reports to)."""
    return study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)


def running_trial(study: optuna.Study, trial_id: int) -> optuna.Trial:
    """A handle on a RUNNING trial another process asked for (a training process reports its
    epochs to it); Optuna documents `Trial(...)` as not for direct instantiation."""
    return optuna.trial.Trial(study, trial_id)


def heartbeat_enabled(storage: optuna.storages.BaseStorage) -> bool:
    """Whether the storage runs Optuna's heartbeat (an RDB storage given an interval)."""
    from optuna.storages._heartbeat import is_heartbeat_enabled

    return is_heartbeat_enabled(storage)


def heartbeat_interval(storage: optuna.storages.BaseStorage) -> float:
    """Seconds between heartbeats (only for a storage with heartbeats enabled)."""
    return float(storage.get_heartbeat_interval())  # type: ignore[attr-defined]


def stale_trial_callback(storage: optuna.storages.BaseStorage) -> Any:
    """The callback Optuna calls for each trial it fails as stale."""
    return storage.get_heartbeat_stale_trial_callback()  # type: ignore[attr-defined]


def retried_numbers(trials: list[FrozenTrial]) -> frozenset[int]:
    """Numbers of trials that failed as stale and were re-queued (their retry counts)."""
    return frozenset(n for t in trials for n in t.system_attrs.get("retry_history", ()))


def is_requeued(trial: FrozenTrial) -> bool:
    """A WAITING trial Optuna re-queued for a failed (stale) one."""
    return "failed_trial" in trial.system_attrs


def rdb_engine(storage: optuna.storages.RDBStorage) -> Any:
    """The SQLAlchemy engine of an RDB storage (for the advisory lock and the table below)."""
    return storage.engine


def running_without_heartbeat(study: optuna.Study, storage: Any, grace_s: float) -> list[int]:
    """Numbers of RUNNING trials older than `grace_s` that never got a heartbeat row.

    Optuna's stale check skips trials without a row in its `trial_heartbeats` table and has
    no API to list them, so this reads the table itself.
    """
    import sqlalchemy

    cutoff = datetime.datetime.now() - datetime.timedelta(seconds=grace_s)
    old = {
        t._trial_id: t.number
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if t.datetime_start is not None and t.datetime_start < cutoff
    }
    if not old:
        return []
    with rdb_engine(storage).connect() as conn:
        rows = conn.execute(
            sqlalchemy.text(
                "SELECT trial_id FROM trial_heartbeats WHERE trial_id IN :ids"
            ).bindparams(sqlalchemy.bindparam("ids", expanding=True)),
            {"ids": list(old)},
        )
        beaten = {row[0] for row in rows}
    return [number for trial_id_, number in old.items() if trial_id_ not in beaten]


class UnsyncedJournalFile(JournalFileBackend):
    """Optuna's journal file without an fsync per write.

    Every `suggest_*` appends a line; with fsync that is 1-3 ms each, 15-40 ms a trial.
    Without it the line still reaches the kernel at once, so a killed or crashed process
    loses nothing; only a power cut can lose the last lines (the trials are re-run on
    resume). The file format and locking are Optuna's own (its private lock helper and
    attributes, hence this module).
    """

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        from optuna.storages.journal._file import get_lock_file

        text = "\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n"
        with get_lock_file(self._lock), open(self._file_path, "ab") as f:
            f.write(text.encode("utf-8"))
            f.flush()
