"""The study ledger: which trials exist, their parameters, state and values.

The ledger is an Optuna study for every strategy, so resume, several workers and stale-trial
handling come from Optuna's storages (a journal file by default, RDB storage such as
PostgreSQL for scale-out) instead of code of our own. Optuna samplers ask directly on it;
other backends record their suggestions through `ask_fixed`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from hpo.errors import UserInputError
from hpo.space import Param, SearchSpace

DEFAULT_LEDGER = "hpo-ledger.journal"
State = Literal["COMPLETE", "PRUNED", "FAIL"]

RUN_ID_ATTR = "hpo.run_id"
METRICS_ATTR = "hpo.metrics"
INTERRUPTED_ATTR = "hpo.interrupted"
ERROR_ATTR = "hpo.error"

optuna.logging.set_verbosity(optuna.logging.WARNING)


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


def make_storage(url: str | None) -> optuna.storages.BaseStorage:
    """Optuna storage from a URL: a journal file by default, RDB for database URLs."""
    url = url or DEFAULT_LEDGER
    if "://" in url and not url.startswith("journal://"):
        try:
            return optuna.storages.RDBStorage(url=url, engine_kwargs={"pool_pre_ping": True})
        except Exception as err:  # sqlalchemy raises many kinds; one line is what users need
            raise UserInputError(
                f"cannot open the ledger storage: {str(err).splitlines()[0]}",
                field=f"--storage {mask_url(url)}",
            ) from None
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

    @property
    def counts_toward_budget(self) -> bool:
        return self.state in ("COMPLETE", "PRUNED", "FAIL") and not self.interrupted


def _view(trial: FrozenTrial) -> LedgerTrial:
    return LedgerTrial(
        number=trial.number,
        state=trial.state.name,
        params=dict(trial.params),
        values=tuple(trial.values) if trial.values is not None else None,
        run_id=trial.user_attrs.get(RUN_ID_ATTR),
        metrics=dict(trial.user_attrs.get(METRICS_ATTR, {})),
        interrupted=bool(trial.user_attrs.get(INTERRUPTED_ATTR, False)),
        error=trial.user_attrs.get(ERROR_ATTR),
    )


class Ledger:
    """One study in one storage."""

    def __init__(self, study: optuna.Study):
        self.study = study

    @classmethod
    def open(
        cls,
        storage_url: str | None,
        study_name: str,
        directions: Sequence[str],
        *,
        pruner: optuna.pruners.BasePruner | None = None,
    ) -> Ledger:
        storage = make_storage(storage_url)
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
        return cls(study)

    @property
    def name(self) -> str:
        return self.study.study_name

    def attrs(self) -> dict[str, Any]:
        return dict(self.study.user_attrs)

    def set_attrs(self, attrs: Mapping[str, Any]) -> None:
        for key, value in attrs.items():
            self.study.set_user_attr(key, value)

    def trials(self) -> list[LedgerTrial]:
        return [_view(t) for t in self.study.get_trials(deepcopy=False)]

    def n_counted(self) -> int:
        return sum(t.counts_toward_budget for t in self.trials())

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

    def enqueue(self, params: Mapping[str, Any]) -> None:
        """Queue a known configuration to run before the strategy's own suggestions."""
        self.study.enqueue_trial(dict(params), skip_if_exists=True)

    def set_run_id(self, number: int, run_id: str) -> None:
        storage, trial_id = self.study._storage, self._trial_id(number)
        if not storage.get_trial(trial_id).state.is_finished():
            storage.set_trial_user_attr(trial_id, RUN_ID_ATTR, run_id)

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

    def fail_running(self, reason: str) -> list[int]:
        """Mark every RUNNING trial of this study FAIL (their process is gone)."""
        failed = []
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            self.finish(trial.number, "FAIL", None, error=reason, interrupted=True)
            failed.append(trial.number)
        return failed

    def trial_id(self, number: int) -> int:
        """The storage's id of trial `number` (what a training process reports to)."""
        return self._trial_id(number)

    def _trial_id(self, number: int) -> int:
        return self.study._storage.get_trial_id_from_study_id_trial_number(
            self.study._study_id, number
        )
