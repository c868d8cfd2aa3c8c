"""The Optuna storage behind a ledger: a journal file by default, an RDB for database URLs.

The journal is Optuna's file format written by `LedgerJournalFile` (fsynced when a trial
finishes, a torn last record cut off, see journal_repair.py).

Opening an RDB storage is retried with the one backoff policy (hpo.retry): workers started
together race to create Optuna's schema in a fresh database (one loses with a unique
violation), and a database that is restarting refuses connections for a few seconds.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

from hpo.errors import UserInputError, first_line
from hpo.retry import Backoff, retry
from hpo.study._optuna_private import LedgerJournalFile
from hpo.study.file_locks import locks_dir
from hpo.study.heartbeat import Heartbeat, StaleTrials
from hpo.urls import is_database, is_sqlite, mask_secrets, mask_url, with_driver

DEFAULT_LEDGER = "hpo-ledger.journal"
# five tries, pauses 0.5, 1, 2, 4 s: long enough for a schema race or a quick restart
OPEN_BACKOFF = Backoff(patience_s=float("inf"), first_s=0.5, max_s=4.0, attempts=5)


def supports_heartbeat(url: str | None) -> bool:
    """Heartbeats need a database several processes share; SQLite is one writer only."""
    return is_database(url) and not is_sqlite(url)


def journal_path(url: str | None) -> Path:
    """The journal file a non-database storage URL names (the default in the working folder)."""
    return Path((url or DEFAULT_LEDGER).removeprefix("journal://"))


def ledger_file(url: str | None) -> Path | None:
    """The file of a one-machine ledger (the journal, SQLite); None for a shared database."""
    if not is_database(url):
        return journal_path(url)
    if not is_sqlite(url):
        return None
    database = str(url).split("://", 1)[1].removeprefix("/").split("?", 1)[0]
    return Path(database) if database and database != ":memory:" else None


def make_storage(
    url: str | None,
    heartbeat: Heartbeat | None = None,
    notify: Callable[[str], None] | None = None,
) -> optuna.storages.BaseStorage:
    """Optuna storage from a URL: a journal file by default, RDB for database URLs.

    With `heartbeat` and a shared database (not SQLite), Optuna's heartbeat marks trials of
    dead orchestrators stale and re-queues them. `notify` hears of a journal's torn last
    record being cut off (a Python warning without it).
    """
    if is_database(url):
        return _rdb_storage(str(url), heartbeat)
    path = journal_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    backend = LedgerJournalFile(str(path), locks_dir(path) / "append.lock", notify or _warn)
    return optuna.storages.JournalStorage(backend)


def _warn(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=2)


def _rdb_storage(url: str, heartbeat: Heartbeat | None) -> optuna.storages.RDBStorage:
    beat: dict[str, Any] = {}
    if heartbeat is not None and supports_heartbeat(url):
        beat = {
            "heartbeat_interval": heartbeat.interval_s,
            "grace_period": heartbeat.grace_s,
            "heartbeat_stale_trial_callback": StaleTrials(heartbeat.retries),
        }

    def open_rdb() -> optuna.storages.RDBStorage:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url=with_driver(url), engine_kwargs={"pool_pre_ping": True}, **beat
            )

    try:
        # sqlalchemy raises many kinds; a missing driver will not come back by waiting
        return retry(
            open_rdb,
            OPEN_BACKOFF,
            retry_on=lambda err: "import DB access module" not in first_line(err),
        )
    except Exception as err:  # one line is what users need
        raise UserInputError(
            f"cannot open the ledger storage: {mask_secrets(first_line(err))}",
            field=f"--storage {mask_url(url)}",
        ) from None
