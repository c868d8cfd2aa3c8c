"""Every use of Optuna's private API, in one place (written for Optuna 5.x).

hpo owns the trial loop rather than calling `Study.optimize`, so it needs a few things Optuna
keeps to itself: the storage behind a study, the storage id of a trial, whether heartbeats
are on, its heartbeat table, its journal file's attributes and operation codes. Each is one
small function here, and tests/test_optuna_private.py exercises every one of them against
the installed Optuna, so an upgrade that moves one fails there, by name, rather than
somewhere in a sweep.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import optuna
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from hpo.study import journal_repair
from hpo.study.file_locks import flocked

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


def retry_history(trial: FrozenTrial) -> list[int]:
    """Numbers of the failed (stale) trials this trial re-runs (Optuna's system attr)."""
    return list(trial.system_attrs.get("retry_history", ()))


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


def needs_sync(logs: list[dict[str, Any]]) -> bool:
    """Whether journal records change a study or finish a trial (Optuna's operation codes)."""
    from optuna.storages.journal._storage import JournalOperation as Op

    study_ops = (Op.CREATE_STUDY, Op.DELETE_STUDY, Op.SET_STUDY_USER_ATTR, Op.SET_STUDY_SYSTEM_ATTR)
    for log in logs:
        op = log.get("op_code")
        if op in study_ops:
            return True
        if op == Op.SET_TRIAL_STATE_VALUES and TrialState(log["state"]).is_finished():
            return True
    return False


class LedgerJournalFile(JournalFileBackend):
    """Optuna's journal file, fsynced when a trial finishes, surviving a torn write.

    An fsync per record costs 1-3 ms, 15-40 ms a trial (every `suggest_*` is a record), so a
    batch is fsynced only when it finishes a trial or changes a study (docs/benchmarks.md);
    every record still reaches the kernel at once, so a killed process loses nothing, and a
    power cut loses at most records of unfinished trials (re-run on resume). A torn last
    record is cut off on open and before an append (hpo.study.journal_repair), an append that
    fails half-way is undone, and a bad record in the middle is one error naming its byte.
    The file format is Optuna's own; the lock is an flock (`lock_path`), which the OS releases
    when its holder dies, where Optuna's lock file would block everyone for 30 s.
    """

    def __init__(self, file_path: str, lock_path: Path, on_repair: Callable[[str], None]):
        super().__init__(file_path)
        self._lock_path = lock_path
        self._on_repair = on_repair
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with flocked(self._lock_path):
            self._cut_torn_tail()

    def read_logs(self, log_number_from: int) -> Generator[dict[str, Any], None, None]:
        try:
            yield from super().read_logs(log_number_from)
        except ValueError:  # a record that is not JSON, before the last one
            raise journal_repair.unreadable(Path(self._file_path)) from None

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        text = "\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n"
        data = memoryview(text.encode("utf-8"))
        with flocked(self._lock_path):
            fd = os.open(self._file_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                end = os.lseek(fd, 0, os.SEEK_END)
                if end and os.pread(fd, 1, end - 1) != b"\n":  # torn by a process that died
                    self._cut_torn_tail()
                    end = os.lseek(fd, 0, os.SEEK_END)
                try:
                    while data:
                        data = data[os.write(fd, data) :]
                    if needs_sync(logs):
                        os.fsync(fd)
                except BaseException:  # a full disk, an interrupt: no half record stays
                    os.ftruncate(fd, end)
                    raise
            finally:
                os.close(fd)

    def _cut_torn_tail(self) -> None:
        path = Path(self._file_path)
        backup = journal_repair.cut_torn_tail(path)
        if backup is not None:
            self._on_repair(journal_repair.torn_message(path, backup))
