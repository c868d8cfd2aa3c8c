"""Heartbeats for shared (database) ledgers: the policy, the beating thread, the stale list.

Several orchestrators share one PostgreSQL study; a trial whose orchestrator died must be
failed and re-queued by another. Optuna's heartbeat mechanism does that; this module adds
what hpo needs around it: a thread that survives a database restart, and a callback that
remembers which trials one orchestrator failed, so their MLflow runs are ended once.
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any, Protocol

import optuna
from optuna.trial import FrozenTrial

from hpo.study.retry import Retrying, is_transient


@dataclass(frozen=True)
class Heartbeat:
    """Heartbeat policy for shared (database) ledgers: Optuna's own heartbeat mechanism.

    A trial whose orchestrator has not beaten for `grace_s` seconds is stale: it is failed
    and re-queued up to `retries` times (Optuna's RetryHeartbeatStaleTrialCallback).
    """

    interval_s: int = 10
    grace_s: int | None = None  # default: 2 x interval, as in Optuna
    retries: int = 1


class BeatingThread(Protocol):
    def start(self) -> None: ...

    def join(self) -> None: ...


class NoHeartbeat:
    """The heartbeat of a ledger without heartbeats: nothing to beat."""

    def start(self) -> None:
        pass

    def join(self) -> None:
        pass


class HeartbeatThread:
    """Optuna's heartbeat loop for one trial, but a lost connection does not end it.

    Optuna's own thread dies on the first error, so a database restart would leave a live
    trial without heartbeats and another worker would fail it as stale. This one keeps
    trying every second until the database is back, then beats at the normal interval.
    """

    def __init__(self, storage: Any, trial_id: int, interval_s: float, retrying: Retrying | None):
        self._store, self._trial, self._interval_s = storage, trial_id, interval_s
        self._retrying = retrying
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        failed = False
        while True:
            try:
                self._store.record_heartbeat(self._trial)
                ok = True
            except Exception as err:
                if not is_transient(err):
                    raise
                ok = False
            if self._retrying is not None and (failed or not ok):  # failing, or just back
                self._retrying.trouble()
            failed = not ok
            if self._stop.wait(1.0 if failed else self._interval_s):
                return

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self._stop.set()
        self._thread.join()


class StaleTrials(optuna.storages.RetryHeartbeatStaleTrialCallback):
    """Optuna's retry callback that also remembers which trials went stale.

    The orchestrator that failed a stale trial (exactly one does: the storage's state change
    is atomic) ends its MLflow run. The retry starts clean: the dead trial's run id, metrics
    and error are not copied to it. `failed` holds (trial number, its user attrs as they
    were), for the ledger to read the run id from.
    """

    def __init__(self, max_retry: int) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            super().__init__(max_retry=max_retry)
        self.failed: list[tuple[int, dict[str, Any]]] = []

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.failed.append((trial.number, dict(trial.user_attrs)))
        trial.user_attrs = {}
        super().__call__(study, trial)

    def take(self) -> list[tuple[int, dict[str, Any]]]:
        """The trials failed since the last call (each is reported once)."""
        failed, self.failed = self.failed, []
        return failed


class StaleCheckPace:
    """When the stale-trial check may run: at most every `every_s`, and not within one
    grace period after a database outage (nobody could beat then: every worker gets one
    grace period to beat again before its trials are judged stale)."""

    def __init__(self, rdb: optuna.storages.RDBStorage | None, retrying: Retrying | None):
        self.grace_s = 0.0
        if rdb is not None:
            self.grace_s = float(rdb.grace_period or 2 * (rdb.heartbeat_interval or 0))
        self._retrying = retrying
        self._last_check = -math.inf

    def due(self, every_s: float) -> bool:
        if time.monotonic() - self._last_check < every_s:
            return False
        if (
            self._retrying is not None
            and time.monotonic() - self._retrying.last_trouble < self.grace_s
        ):
            return False
        self._last_check = time.monotonic()
        return True
