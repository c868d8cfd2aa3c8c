"""The study ledger: which trials exist, their parameters, state and values.

The ledger is an Optuna study for every strategy, so resume, several workers and stale-trial
handling come from Optuna's storages (a journal file by default, RDB storage such as
PostgreSQL for scale-out) instead of code of our own. Optuna samplers ask directly on it;
other backends record their suggestions through `ask_fixed`.
"""

from __future__ import annotations

import functools
import hashlib
import math
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from hpo.config.space import Param, SearchSpace
from hpo.errors import UserInputError, first_line
from hpo.study.retry import Backoff, Retrying, is_transient

DEFAULT_LEDGER = "hpo-ledger.journal"
State = Literal["COMPLETE", "PRUNED", "FAIL"]

RUN_ID_ATTR = "hpo.run_id"
METRICS_ATTR = "hpo.metrics"
INTERRUPTED_ATTR = "hpo.interrupted"
ERROR_ATTR = "hpo.error"
SWEEP_RUN_ATTR = "hpo.sweep_run_id"

optuna.logging.set_verbosity(optuna.logging.WARNING)
# hpo owns the trial loop (ask in the orchestrator, train elsewhere), so Optuna's reminder that
# heartbeats are meant for Study.optimize does not apply: the orchestrator beats them itself
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")


@dataclass(frozen=True)
class Heartbeat:
    """Heartbeat policy for shared (database) ledgers: Optuna's own heartbeat mechanism.

    A trial whose orchestrator has not beaten for `grace_s` seconds is stale: it is failed
    and re-queued up to `retries` times (Optuna's RetryHeartbeatStaleTrialCallback).
    """

    interval_s: int = 10
    grace_s: int | None = None  # default: 2 x interval, as in Optuna
    retries: int = 1


def is_database(url: str | None) -> bool:
    """An RDB URL (not the journal file default)."""
    return bool(url) and "://" in str(url) and not str(url).startswith("journal://")


def is_sqlite(url: str | None) -> bool:
    return bool(url) and str(url).lower().startswith("sqlite")


def supports_heartbeat(url: str | None) -> bool:
    """Heartbeats need a database several processes share; SQLite is one writer only."""
    return is_database(url) and not is_sqlite(url)


def with_driver(url: str) -> str:
    """`postgresql://` with the driver this project installs (psycopg2-binary).

    SQLAlchemy 2.1 and MLflow 3 read a bare `postgresql://` as psycopg 3; users should not
    have to know that, so the bare form works when only psycopg2 is installed.
    """
    import importlib.util

    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare) and importlib.util.find_spec("psycopg") is None:
            return "postgresql+psycopg2://" + url[len(bare) :]
    return url


def mask_secrets(text: str) -> str:
    """Mask every password in URLs inside a longer text (config.yaml, error messages)."""
    import re

    text = re.sub(r"(?i)([?&](?:password|passwd|pwd)=)[^&\s'\"]*", r"\1***", text)
    return re.sub(r"([a-zA-Z][\w+.-]*://[^:/@\s'\"]+):[^@\s'\"]*@", r"\1:***@", text)


def mask_url(url: str) -> str:
    """Hide passwords in a URL (`postgresql://user:***@host/db`, `?password=***`)."""
    import re

    url = re.sub(r"(?i)([?&](?:password|passwd|pwd)=)[^&]*", r"\1***", url)
    if "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    if "@" not in rest:
        return url
    credentials, host = rest.rsplit("@", 1)  # a password may itself contain "@"
    if ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


class _StaleTrials(optuna.storages.RetryHeartbeatStaleTrialCallback):
    """Optuna's retry callback that also remembers which trials went stale.

    The orchestrator that failed a stale trial (exactly one does: the storage's state change
    is atomic) ends its MLflow run. The retry starts clean: the dead trial's run id, metrics
    and error are not copied to it.
    """

    def __init__(self, max_retry: int) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            super().__init__(max_retry=max_retry)
        self.failed: list[tuple[int, str | None]] = []

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.failed.append((trial.number, trial.user_attrs.get(RUN_ID_ATTR)))
        trial.user_attrs = {}
        super().__call__(study, trial)


def make_storage(
    url: str | None, heartbeat: Heartbeat | None = None
) -> optuna.storages.BaseStorage:
    """Optuna storage from a URL: a journal file by default, RDB for database URLs.

    With `heartbeat` and a shared database (not SQLite), Optuna's heartbeat marks trials of
    dead orchestrators stale and re-queues them.
    """
    url = url or DEFAULT_LEDGER
    if is_database(url):
        beat: dict[str, Any] = {}
        if heartbeat is not None and supports_heartbeat(url):
            beat = {
                "heartbeat_interval": heartbeat.interval_s,
                "grace_period": heartbeat.grace_s,
                "heartbeat_stale_trial_callback": _StaleTrials(heartbeat.retries),
            }
        import time

        # Retried with backoff: workers started together race to create Optuna's schema
        # in a fresh database (one loses with a unique violation), and a database that is
        # restarting refuses connections for a few seconds.
        for attempt in range(5):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    return optuna.storages.RDBStorage(
                        url=with_driver(url), engine_kwargs={"pool_pre_ping": True}, **beat
                    )
            except Exception as err:  # sqlalchemy raises many kinds; one line is what users need
                message = mask_secrets(first_line(err))
                if attempt == 4 or "import DB access module" in message:
                    raise UserInputError(
                        f"cannot open the ledger storage: {message}",
                        field=f"--storage {mask_url(url)}",
                    ) from None
                time.sleep(0.5 * 2**attempt)
    path = Path(url.removeprefix("journal://"))
    path.parent.mkdir(parents=True, exist_ok=True)
    from optuna.storages.journal import JournalFileOpenLock

    backend = _UnsyncedJournalFile(str(path), lock_obj=JournalFileOpenLock(str(path)))
    return optuna.storages.JournalStorage(backend)


class _UnsyncedJournalFile(JournalFileBackend):
    """Optuna's journal file without an fsync per write.

    Every `suggest_*` appends a line; with fsync that is 1-3 ms each, 15-40 ms a trial.
    Without it the line still reaches the kernel at once, so a killed or crashed process
    loses nothing; only a power cut can lose the last lines (the trials are re-run on
    resume). The file format and locking are Optuna's own.
    """

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        import json

        from optuna.storages.journal._file import get_lock_file

        text = "\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n"
        with get_lock_file(self._lock), open(self._file_path, "ab") as f:
            f.write(text.encode("utf-8"))
            f.flush()


def distribution(param: Param) -> BaseDistribution:
    """The Optuna distribution of one neutral parameter."""
    if param.kind == "float":
        assert param.low is not None and param.high is not None
        return FloatDistribution(param.low, param.high, log=param.log, step=param.step)
    if param.kind == "int":
        assert param.low is not None and param.high is not None
        return IntDistribution(
            int(param.low), int(param.high), log=param.log, step=int(param.step or 1)
        )
    if param.kind == "categorical":
        return CategoricalDistribution(param.choices)
    return CategoricalDistribution((param.value,))


def suggest(trial: optuna.Trial, param: Param) -> Any:
    """Ask an Optuna trial for one parameter (define-by-run keeps conditions exact)."""
    if param.kind == "float":
        assert param.low is not None and param.high is not None
        return trial.suggest_float(
            param.name, param.low, param.high, log=param.log, step=param.step
        )
    if param.kind == "int":
        assert param.low is not None and param.high is not None
        return trial.suggest_int(
            param.name, int(param.low), int(param.high), step=int(param.step or 1), log=param.log
        )
    if param.kind == "categorical":
        return trial.suggest_categorical(param.name, list(param.choices))
    return trial.suggest_categorical(param.name, [param.value])  # fixed: recorded, not searched


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

    @property
    def counts_toward_budget(self) -> bool:
        return (
            self.state in ("COMPLETE", "PRUNED", "FAIL")
            and not self.interrupted
            and not self.retried
        )


def _view(trial: FrozenTrial, retried: frozenset[int] = frozenset()) -> LedgerTrial:
    return LedgerTrial(
        number=trial.number,
        state=trial.state.name,
        params=dict(trial.params),
        values=tuple(trial.values) if trial.values is not None else None,
        run_id=trial.user_attrs.get(RUN_ID_ATTR),
        metrics=dict(trial.user_attrs.get(METRICS_ATTR, {})),
        interrupted=bool(trial.user_attrs.get(INTERRUPTED_ATTR, False)),
        error=trial.user_attrs.get(ERROR_ATTR),
        retried=trial.number in retried,
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


class _Heartbeat:
    """Optuna's heartbeat loop for one trial, but a lost connection does not end it.

    Optuna's own thread dies on the first error, so a database restart would leave a live
    trial without heartbeats and another worker would fail it as stale. This one keeps
    trying every second until the database is back, then beats at the normal interval.
    """

    def __init__(self, storage: Any, trial_id: int, interval_s: float, retrying: Retrying | None):
        self._storage, self._trial_id, self._interval_s = storage, trial_id, interval_s
        self._retrying = retrying
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        failed = False
        while True:
            try:
                self._storage.record_heartbeat(self._trial_id)
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


class Ledger:
    """One study in one storage."""

    def __init__(
        self,
        study: optuna.Study,
        rdb: optuna.storages.RDBStorage | None = None,
        retrying: Retrying | None = None,
    ):
        self.study = study
        self._rdb = rdb
        self._retrying = retrying  # database ledgers: ride out a restart
        self._last_stale_check = -math.inf

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
        storage = make_storage(storage_url, heartbeat)
        study = optuna.create_study(
            storage=storage,
            pruner=pruner,
            study_name=study_name,
            directions=[d.lower() for d in directions],  # type: ignore[misc]
            load_if_exists=True,
        )
        if [d.name.lower() for d in study.directions] != [d.lower() for d in directions]:
            raise UserInputError(
                f"study {study_name!r} exists with other objective directions",
                field="--study",
            )
        rdb = storage if isinstance(storage, optuna.storages.RDBStorage) else None
        retrying = None
        if rdb is not None:
            retrying = Retrying(mask_url(str(storage_url)), backoff or Backoff(), notify)
        return cls(study, rdb, retrying)

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
        retried = frozenset(n for t in frozen for n in t.system_attrs.get("retry_history", ()))
        return [_view(t, retried) for t in frozen]

    def n_counted(self) -> int:
        return sum(t.counts_toward_budget for t in self.trials())

    @_retried
    def ask_fixed(
        self, space: SearchSpace, params: Mapping[str, Any]
    ) -> tuple[optuna.Trial, dict[str, Any]]:
        """Record a trial whose parameters a non-Optuna backend chose.

        Returns the trial and its actual parameters: a configuration the user queued with
        `--enqueue` runs first, whatever the backend proposed.
        """
        self.study.enqueue_trial(dict(params), skip_if_exists=False)
        trial = self.study.ask()
        # enqueued values win over the sampler, so suggesting records them with distributions
        actual = space.sample(lambda param: suggest(trial, param))
        return trial, actual

    @_retried
    def ask_sampled(self, space: SearchSpace) -> tuple[int, dict[str, Any]]:
        """A new trial whose parameters the study's own Optuna sampler chooses."""
        trial = self.study.ask()
        return trial.number, space.sample(lambda param: suggest(trial, param))

    @_retried
    def enqueue(self, params: Mapping[str, Any]) -> None:
        """Queue a known configuration to run before the strategy's own suggestions."""
        self.study.enqueue_trial(dict(params), skip_if_exists=True)

    @_retried
    def set_run_id(self, number: int, run_id: str) -> None:
        storage, trial_id = self.study._storage, self._trial_id(number)
        if not storage.get_trial(trial_id).state.is_finished():
            storage.set_trial_user_attr(trial_id, RUN_ID_ATTR, run_id)

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
        storage = self.study._storage
        trial_id = self._trial_id(number)
        if storage.get_trial(trial_id).state.is_finished():
            return  # already ended elsewhere (e.g. failed as stale by another process)
        if metrics:
            clean = {k: float(v) for k, v in metrics.items() if math.isfinite(v)}
            storage.set_trial_user_attr(trial_id, METRICS_ATTR, clean)
        if error:
            storage.set_trial_user_attr(trial_id, ERROR_ATTR, error)
        if interrupted:
            storage.set_trial_user_attr(trial_id, INTERRUPTED_ATTR, True)
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

    # ------------------------------------------------------------ several orchestrators

    @property
    def heartbeats(self) -> bool:
        """Whether stale trials are found by heartbeat (shared database) rather than by
        failing every RUNNING trial at start (one orchestrator, journal or SQLite)."""
        from optuna.storages._heartbeat import is_heartbeat_enabled

        return is_heartbeat_enabled(self.study._storage)

    def heartbeat_thread(self, number: int) -> Any:
        """A heartbeat thread for one trial (a no-op without heartbeats); the orchestrator
        beats for trials that train in another process."""
        from optuna.storages._heartbeat import NullHeartbeatThread

        storage = self.study._storage
        if not self.heartbeats:
            return NullHeartbeatThread()
        interval = storage.get_heartbeat_interval()  # type: ignore[attr-defined]
        return _Heartbeat(storage, self.trial_id(number), float(interval), self._retrying)

    @_retried
    def fail_stale(self, *, every_s: float = 0.0) -> list[tuple[int, str | None]]:
        """Fail (and re-queue) trials whose orchestrator stopped beating.

        Returns (trial number, MLflow run id) of the trials failed by THIS call, so their
        runs are ended exactly once. `every_s` throttles the database query.
        """
        import time

        if not self.heartbeats or time.monotonic() - self._last_stale_check < every_s:
            return []
        grace = 0.0
        if self._rdb is not None:
            grace = float(self._rdb.grace_period or 2 * (self._rdb.heartbeat_interval or 0))
        # after a database outage nobody could beat: give every worker one grace period
        # to beat again before judging its trials stale
        if self._retrying is not None and time.monotonic() - self._retrying.last_trouble < grace:
            return []
        self._last_stale_check = time.monotonic()
        callback = self.study._storage.get_heartbeat_stale_trial_callback()  # type: ignore[attr-defined]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(self.study)
        self._fail_orphans(grace)
        if not isinstance(callback, _StaleTrials):
            return []
        failed, callback.failed = callback.failed, []
        return failed

    def _fail_orphans(self, grace_s: float) -> None:
        """Fail RUNNING trials that never got a heartbeat, older than the grace period.

        Every orchestrator beats a trial right after asking for it, so such a trial is the
        remains of an ask cut off by a lost connection (created, then the connection went).
        Optuna's stale check skips trials without a heartbeat row, and one would otherwise
        hold a place in the budget for ever. It never ran: it is kept out of the budget.
        """
        import datetime

        import sqlalchemy

        if self._rdb is None:
            return
        cutoff = datetime.datetime.now() - datetime.timedelta(seconds=grace_s)
        old = {
            t._trial_id: t.number
            for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if t.datetime_start is not None and t.datetime_start < cutoff
        }
        if not old:
            return
        with self._rdb.engine.connect() as conn:  # Optuna's table; it has no API for this
            rows = conn.execute(
                sqlalchemy.text(
                    "SELECT trial_id FROM trial_heartbeats WHERE trial_id IN :ids"
                ).bindparams(sqlalchemy.bindparam("ids", expanding=True)),
                {"ids": list(old)},
            )
            beaten = {row[0] for row in rows}
        for trial_id, number in old.items():
            if trial_id not in beaten:
                error = "its ask was cut off by a lost database connection; it never ran"
                self.finish(number, "FAIL", None, error=error, interrupted=True)

    @_retried
    def ask_retry(self, space: SearchSpace) -> tuple[int, dict[str, Any]] | None:
        """Take a re-queued (retried) trial, if any: it runs before new suggestions."""
        waiting = self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        if not any("failed_trial" in t.system_attrs for t in waiting):
            return None
        trial = self.study.ask()  # Optuna pops the oldest WAITING trial, with its params
        params = space.sample(lambda param: suggest(trial, param))
        return trial.number, params

    @contextmanager
    def claim(self) -> Iterator[None]:
        """Serialise "check the ledger, then ask" across orchestrators on PostgreSQL.

        A session-level advisory lock keyed by the study name: the budget check and a grid's
        "is this candidate taken" check see every trial another worker asked for. A dead
        process's lock is released with its connection. Elsewhere (one orchestrator) a no-op.
        """
        if self._rdb is None or self._rdb.engine.dialect.name != "postgresql":
            yield
            return
        import sqlalchemy

        digest = hashlib.sha256(f"hpo:{self.name}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        engine = self._rdb.engine

        def lock() -> Any:
            conn = engine.connect()
            try:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
                conn.commit()
            except BaseException:
                conn.close()
                raise
            return conn

        conn = self._retrying.call("claim", lock) if self._retrying else lock()
        try:
            yield
        finally:
            try:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
            except Exception as err:  # a lost connection has released its locks already
                if not is_transient(err):
                    raise
            finally:
                conn.close()

    @_retried
    def trial_id(self, number: int) -> int:
        """The storage's id of trial `number` (what a training process reports to)."""
        return self._trial_id(number)

    def _trial_id(self, number: int) -> int:
        return self.study._storage.get_trial_id_from_study_id_trial_number(
            self.study._study_id, number
        )
