"""The study ledger: which trials exist, their parameters, state and values.

The ledger is an Optuna study for every strategy, so resume, several workers and stale-trial
handling come from Optuna's storages (a journal file by default, RDB storage such as
PostgreSQL for scale-out) instead of code of our own. Optuna samplers ask directly on it;
other backends record their suggestions through `ask_fixed`. Its neighbours: storage.py
opens the storage, heartbeat.py keeps shared trials alive, retry.py rides out a database
restart, _optuna_private.py holds what Optuna does not expose.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpo.config.space import SearchSpace
from hpo.errors import UserInputError
from hpo.study import _optuna_private as private
from hpo.study.distributions import suggest
from hpo.study.heartbeat import (
    BeatingThread,
    Heartbeat,
    HeartbeatThread,
    NoHeartbeat,
    StaleCheckPace,
    StaleTrials,
)
from hpo.study.lock import advisory_lock
from hpo.study.retry import Backoff, Retrying
from hpo.study.storage import make_storage
from hpo.study.trial_cache import LedgerChanges, LedgerCursor, TrialCache
from hpo.urls import mask_url

Pruner = optuna.pruners.BasePruner
State = Literal["COMPLETE", "PRUNED", "FAIL"]

# the trial and study user attributes hpo keeps in the ledger (Optuna's, not MLflow's)
RUN_ID_ATTR = "hpo.run_id"
METRICS_ATTR = "hpo.metrics"
INTERRUPTED_ATTR = "hpo.interrupted"
ERROR_ATTR = "hpo.error"
SWEEP_RUN_ATTR = "hpo.sweep_run_id"
# the study's fingerprints: a resume with another search space or data is refused
SEARCH_SHA256_ATTR = "hpo.search_sha256"
DATA_SHA256_ATTR = "hpo.data_sha256"
EXPERIMENT_ATTR = "hpo.experiment"
# what its trials were trained with (epochs, batch size, ...) and its strategy: a resume that
# changes the first is refused, the second needs --allow-strategy-change (hpo/sweep/resume.py)
TRAINING_ATTR = "hpo.training"
STRATEGY_ATTR = "hpo.strategy"

# Optuna's stale check skips trials without a heartbeat row: the remains of an ask cut off by a
# lost connection (every orchestrator beats right after asking). They never ran.
ORPHAN_ERROR = "its ask was cut off by a lost database connection; it never ran"

optuna.logging.set_verbosity(optuna.logging.WARNING)
# hpo owns the trial loop (ask in the orchestrator, train elsewhere), so Optuna's reminder that
# heartbeats are meant for Study.optimize does not apply: the orchestrator beats them itself
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")


@dataclass(frozen=True)
class LedgerTrial:
    """What the rest of hpo needs from one ledger trial, without Optuna types."""

    number: int
    state: str
    params: dict[str, Any]
    values: tuple[float, ...] | None
    run_id: str | None
    metrics: dict[str, float]
    interrupted: bool
    error: str | None = None
    retried: bool = False  # failed as stale and re-queued: the retry counts instead
    completed_at: float | None = None  # when the ledger took its end (seconds since the epoch)

    @property
    def counts_toward_budget(self) -> bool:
        return (
            self.state in ("COMPLETE", "PRUNED", "FAIL")
            and not self.interrupted
            and not self.retried
        )

    @classmethod
    def of(cls, trial: FrozenTrial, retried: Set[int] = frozenset()) -> LedgerTrial:
        return cls(
            number=trial.number,
            state=trial.state.name,
            params=dict(trial.params),
            values=tuple(trial.values) if trial.values is not None else None,
            run_id=trial.user_attrs.get(RUN_ID_ATTR),
            metrics=dict(trial.user_attrs.get(METRICS_ATTR, {})),
            interrupted=bool(trial.user_attrs.get(INTERRUPTED_ATTR, False)),
            error=trial.user_attrs.get(ERROR_ATTR),
            retried=trial.number in retried,
            completed_at=(trial.datetime_complete.timestamp() if trial.datetime_complete else None),
        )


P = ParamSpec("P")
R = TypeVar("R")


def _retried(method: Callable[Concatenate[Ledger, P], R]) -> Callable[Concatenate[Ledger, P], R]:
    """Repeat a Ledger call while a database ledger is unreachable (see hpo.study.retry)."""

    @functools.wraps(method)
    def call(self: Ledger, *args: P.args, **kwargs: P.kwargs) -> R:
        if self._retrying is None:
            return method(self, *args, **kwargs)
        return self._retrying.call(method.__name__, lambda: method(self, *args, **kwargs))

    return call


class Ledger:
    """One study in one storage."""

    def __init__(
        self,
        study: optuna.Study,
        rdb: optuna.storages.RDBStorage | None = None,
        retrying: Retrying | None = None,
    ):
        self.study = study
        self._store = private.storage_of(study)
        self._rdb = rdb
        self._retrying = retrying  # database ledgers: ride out a restart
        self._pace = StaleCheckPace(rdb, retrying)
        self.cache = TrialCache(LedgerTrial.of)  # finished trials converted once

    @classmethod
    def open(
        cls,
        storage_url: str | None,
        study_name: str,
        directions: Sequence[str],
        *,
        pruner: optuna.pruners.BasePruner | None = None,
        heartbeat: Heartbeat | None = None,
        backoff: Backoff | None = None,
        notify: Callable[[str], None] | None = None,
    ) -> Ledger:
        storage = make_storage(storage_url, heartbeat, notify)
        study = _open_study(storage, study_name, directions, pruner)
        if not isinstance(storage, optuna.storages.RDBStorage):
            return cls(study)
        retrying = Retrying(mask_url(str(storage_url)), backoff or Backoff(), notify)
        return cls(study, storage, retrying)

    @classmethod
    def in_memory(
        cls, study_name: str, directions: Sequence[str], *, pruner: Pruner | None = None
    ) -> Ledger:
        """A ledger in Optuna's in-memory storage, for unit tests of the sweep loop:
        no heartbeats (`fail_stale` finds nothing), no lock (`claim` is a no-op), no retry."""
        return cls(_open_study(optuna.storages.InMemoryStorage(), study_name, directions, pruner))

    @property
    def name(self) -> str:
        return self.study.study_name

    @_retried
    def attrs(self) -> dict[str, Any]:
        return dict(self.study.user_attrs)

    @_retried
    def set_attrs(self, attrs: Mapping[str, Any]) -> None:
        for key, value in attrs.items():
            self.study.set_user_attr(key, value)

    @_retried
    def trials(self) -> list[LedgerTrial]:
        frozen = self.study.get_trials(deepcopy=False)
        self.cache.update(frozen)
        return self.cache.all(frozen)

    @_retried
    def changes(self, cursor: LedgerCursor) -> LedgerChanges[LedgerTrial]:
        """What changed since `cursor`'s last read (a cost that does not grow with the study)."""
        self.cache.update(self.study.get_trials(deepcopy=False))
        return self.cache.changes(cursor)

    def n_counted(self) -> int:
        return sum(t.counts_toward_budget for t in self.trials())

    @_retried
    def ask_fixed(
        self, space: SearchSpace, params: Mapping[str, Any]
    ) -> tuple[optuna.Trial, dict[str, Any]]:
        """Record a trial whose parameters a non-Optuna backend chose.

        Returns the trial and its actual parameters (an `--enqueue`d configuration wins).
        """
        self.study.enqueue_trial(dict(params), skip_if_exists=False)
        trial = self.study.ask()
        # enqueued values win over the sampler, so suggesting records them with distributions
        return trial, space.sample(lambda param: suggest(trial, param))

    @_retried
    def ask_sampled(self, space: SearchSpace) -> tuple[int, dict[str, Any]]:
        """A new trial whose parameters the study's own Optuna sampler chooses."""
        trial = self.study.ask()
        return trial.number, space.sample(lambda param: suggest(trial, param))

    @_retried
    def ask_retry(self, space: SearchSpace) -> tuple[int, dict[str, Any]] | None:
        """Take a re-queued (retried) trial, if any: it runs before new suggestions."""
        waiting = self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        if not any(private.is_requeued(t) for t in waiting):
            return None
        trial = self.study.ask()  # Optuna pops the oldest WAITING trial, with its params
        return trial.number, space.sample(lambda param: suggest(trial, param))

    @_retried
    def enqueue(self, params: Mapping[str, Any]) -> None:
        """Queue a known configuration to run before the strategy's own suggestions."""
        self.study.enqueue_trial(dict(params), skip_if_exists=True)

    @_retried
    def set_run_id(self, number: int, run_id: str) -> None:
        trial_id = private.trial_id(self.study, number)
        if not self._store.get_trial(trial_id).state.is_finished():
            self._store.set_trial_user_attr(trial_id, RUN_ID_ATTR, run_id)

    @_retried
    def finish(
        self,
        number: int,
        state: State,
        values: Sequence[float] | None,
        *,
        metrics: Mapping[str, float] | None = None,
        error: str | None = None,
        interrupted: bool = False,
    ) -> None:
        """Store the outcome. A NaN value is never stored as COMPLETE."""
        trial_id = private.trial_id(self.study, number)
        if self._store.get_trial(trial_id).state.is_finished():
            return  # already ended elsewhere (e.g. failed as stale by another process)
        if metrics:
            clean = {k: float(v) for k, v in metrics.items() if math.isfinite(v)}
            self._store.set_trial_user_attr(trial_id, METRICS_ATTR, clean)
        if error:
            self._store.set_trial_user_attr(trial_id, ERROR_ATTR, error)
        if interrupted:
            self._store.set_trial_user_attr(trial_id, INTERRUPTED_ATTR, True)
        if state == "COMPLETE" and (values is None or not all(map(math.isfinite, values))):
            state = "FAIL"
        self.study.tell(
            number,
            values=list(values) if state == "COMPLETE" and values is not None else None,
            state=TrialState[state],
            skip_if_finished=True,
        )

    @_retried
    def fail_running(self, reason: str) -> list[int]:
        """Mark every RUNNING trial of this study FAIL (their process is gone)."""
        failed = []
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            self.finish(trial.number, "FAIL", None, error=reason, interrupted=True)
            failed.append(trial.number)
        return failed

    @_retried
    def trial_id(self, number: int) -> int:
        """The storage's id of trial `number` (what a training process reports to)."""
        return private.trial_id(self.study, number)

    # ------------------------------------------------------------ several orchestrators

    @property
    def heartbeats(self) -> bool:
        """Stale trials are found by heartbeat (shared database), not failed at start."""
        return private.heartbeat_enabled(self._store)

    def heartbeat_thread(self, number: int) -> BeatingThread:
        """The orchestrator's heartbeat for a trial training elsewhere (no-op without)."""
        if not self.heartbeats:
            return NoHeartbeat()
        interval = private.heartbeat_interval(self._store)
        return HeartbeatThread(self._store, self.trial_id(number), interval, self._retrying)

    @_retried
    def fail_stale(self, *, every_s: float = 0.0) -> list[tuple[int, str | None]]:
        """Fail (and re-queue) trials whose orchestrator stopped beating.

        Returns (trial number, MLflow run id) of the trials failed by THIS call, so their
        runs are ended exactly once. `every_s` throttles the database query.
        """
        if self._rdb is None or not self.heartbeats or not self._pace.due(every_s):
            return []
        callback = private.stale_trial_callback(self._store)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(self.study)
        for number in private.running_without_heartbeat(self.study, self._rdb, self._pace.grace_s):
            self.finish(number, "FAIL", None, error=ORPHAN_ERROR, interrupted=True)
        if not isinstance(callback, StaleTrials):
            return []
        return [(number, attrs.get(RUN_ID_ATTR)) for number, attrs in callback.take()]

    @contextmanager
    def claim(self) -> Iterator[None]:
        """Serialise "check the ledger, then ask" across orchestrators on PostgreSQL.

        The budget check and a grid's "is this candidate taken" check see every trial another
        worker asked for. Elsewhere (one orchestrator) a no-op.
        """
        if self._rdb is None or private.rdb_engine(self._rdb).dialect.name != "postgresql":
            yield
            return
        with advisory_lock(private.rdb_engine(self._rdb), self.name, self._retrying):
            yield


def _open_study(
    storage: optuna.storages.BaseStorage,
    study_name: str,
    directions: Sequence[str],
    pruner: optuna.pruners.BasePruner | None,
) -> optuna.Study:
    """Load the study to resume it (with the same objective directions), or create it.

    Loading first: `create_study(load_if_exists=True)` appends a create record to a journal
    on every resume, and a refused resume must leave the ledger as it was.
    """
    try:
        study = optuna.load_study(study_name=study_name, storage=storage, pruner=pruner)
    except KeyError:  # no such study yet (or another process creates it meanwhile)
        study = optuna.create_study(
            storage=storage,
            pruner=pruner,
            study_name=study_name,
            directions=[d.lower() for d in directions],  # type: ignore[misc]
            load_if_exists=True,
        )
    if [d.name.lower() for d in study.directions] != [d.lower() for d in directions]:
        raise UserInputError(
            f"study {study_name!r} exists with other objective directions", field="--study"
        )
    return study
