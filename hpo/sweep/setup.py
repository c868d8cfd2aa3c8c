"""Build a sweep from a checked experiment: the one place the real collaborators are made.

`open_sweep` opens the ledger (and checks the study may be resumed with this config,
hpo/sweep/resume.py), the strategy, the pool of training processes and the MLflow sweep run,
and hands them to the loop (hpo.sweep.loop), which itself knows none of them by name.
`run_sweep` is what `hpo run`, `hpo worker` and `hpo compare` call.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from hpo.config.names import fit_name
from hpo.errors import Interrupted
from hpo.search import strategy_for
from hpo.search.base import Strategy
from hpo.study.file_locks import hold_study
from hpo.study.heartbeat import Heartbeat
from hpo.study.ledger import Ledger
from hpo.study.retry import Backoff
from hpo.study.storage import ledger_file
from hpo.sweep.devices import device_envs
from hpo.sweep.listeners import SweepListener
from hpo.sweep.loop import Sweep
from hpo.sweep.mlflow_listener import MlflowListener
from hpo.sweep.pending import PendingFolder
from hpo.sweep.pool import EarlyStart, TrialExecutor
from hpo.sweep.preflight import Checked
from hpo.sweep.progress import ProgressHook, ProgressListener
from hpo.sweep.resume import check_resume, study_record
from hpo.sweep.summary import SweepSummary
from hpo.tracking.runs import Tracker
from hpo.trial.pruning import make_pruner
from hpo.trial.task import LedgerRef

Notify = Callable[[str], None]


def default_study_name(experiment_name: str) -> str:
    """`<experiment>-<date>-<time>-<6 hex>`: readable, and two runs started in the same
    second never share a study (the suffix is random, 1 in 16 million)."""
    suffix = f"-{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
    return fit_name(experiment_name, suffix)  # within the name limit --study checks


@dataclass
class SweepOptions:
    study: str
    tracking_uri: str
    storage: str | None = None
    workers: int = 1
    enqueue: list[dict[str, Any]] = field(default_factory=list)
    # shared-database ledgers: Optuna heartbeats find trials whose orchestrator died
    heartbeat: Heartbeat = field(default_factory=Heartbeat)
    # `hpo worker`: one of several orchestrators on the study (strategy seeds must differ)
    joined: bool = False
    threads: int | None = None  # TensorFlow threads per training process (default: share)
    # database ledgers: how long to ride out an unreachable database before giving up
    db_patience_s: float = 120.0
    # resume a study with another strategy (or strategy options) than it was run with
    allow_strategy_change: bool = False
    # training processes started before the sweep was set up (`early_training_processes`)
    early: EarlyStart | None = None
    # where a sweep leaves its idle, healthy training processes when its loop ends (`hpo
    # compare`); None: they stop with the sweep
    keep: EarlyStart | None = None
    # `--devices` (hpo/sweep/devices.py) and training processes per device
    devices: str = "auto"
    trials_per_device: int = 1


@dataclass(frozen=True)
class OpenedSweep:
    """A sweep ready to run, and the MLflow sweep run it logs into."""

    loop: Sweep
    sweep_run_id: str

    def run(self) -> SweepSummary:
        return replace(self.loop.run(), sweep_run_id=self.sweep_run_id)


def run_sweep(
    checked: Checked,
    options: SweepOptions,
    on_progress: ProgressHook | None = None,
    notify: Notify | None = None,
    on_open: Callable[[str], None] | None = None,
) -> SweepSummary:
    """Run (or resume) a sweep as its study's one writer (a file ledger: else exit 2 at once,
    before a training process starts or anything is written). `on_open` is told the sweep
    run's id before the first trial (hpo.api logs a builder function's source there)."""
    listeners = [ProgressListener(on_progress)] if on_progress is not None else []
    with (
        hold_study(ledger_file(options.storage), options.study),
        open_sweep(checked, options, listeners=listeners, notify=notify) as sweep,
    ):
        if on_open is not None:
            on_open(sweep.sweep_run_id)
        return sweep.run()


@contextmanager
def open_sweep(
    checked: Checked,
    options: SweepOptions,
    *,
    listeners: Sequence[SweepListener] = (),
    notify: Notify | None = None,
) -> Iterator[OpenedSweep]:
    """The sweep with its ledger, strategy, training processes and MLflow listener (first,
    then `listeners`); the processes end with the block. Models are saved in the study's
    pending folder (hpo.sweep.pending), where one MLflow did not take stays for later."""
    exp = checked.experiment
    started = time.perf_counter()  # the timeout and the wall time count the set-up too
    pending = PendingFolder.for_study(options.storage, options.study)
    tracking: MlflowListener | None = None
    with pending.models() as model_root:
        pool = TrialExecutor(
            exp,
            checked.dataset,
            model_root,
            options.workers,
            LedgerRef(options.storage, options.study),
            threads=options.threads,
            early=options.early,
            keep=options.keep,
            device_envs=device_envs(options.devices, options.workers, options.trials_per_device),
        )
        try:
            ledger = open_ledger(checked, options, notify)
            strategy = strategy_for(exp, checked.space)
            if options.joined:  # several workers with one seed would ask the same points
                strategy.seed += os.getpid()
            for params in options.enqueue:  # before the strategy replays the ledger
                ledger.enqueue(params)
            _warn_about_budget(strategy, exp.budget.trials, notify)
            patience = Backoff(patience_s=options.db_patience_s)  # MLflow's, as the ledger's
            tracking = MlflowListener.open(
                lambda: Tracker(options.tracking_uri, patience, notify),
                ledger,
                checked,
                options.storage,
                pending=pending,
                notify=notify,
            )
            loop = Sweep(
                exp,
                checked.space,
                ledger=ledger,
                strategy=strategy,
                pool=pool,
                listeners=[tracking, *listeners],
                workers=options.workers,
                stale_check_s=float(options.heartbeat.interval_s),
                notify=notify,
                started=started,
            )
            yield OpenedSweep(loop, tracking.sweep_run_id)
        except KeyboardInterrupt:  # before the loop took over Ctrl-C: nothing ran
            if tracking is not None:
                tracking.close("KILLED")
            raise Interrupted(f"sweep interrupted; resume with --study {options.study}") from None
        except BaseException:
            if tracking is not None:
                tracking.close("FAILED")  # unless the loop ended the sweep run itself
            raise
        finally:
            pool.kill()  # what the sweep handed on (`options.keep`) is no longer its own
            if tracking is not None:
                tracking.tidy()


def open_ledger(checked: Checked, options: SweepOptions, notify: Notify | None = None) -> Ledger:
    """The study's ledger; a resume this config may not make is refused (hpo/sweep/resume.py)
    before anything is written to the ledger."""
    exp = checked.experiment
    ledger = Ledger.open(
        options.storage,
        options.study,
        checked.directions,
        pruner=make_pruner(exp.strategy.pruner, exp.budget.epochs),
        heartbeat=options.heartbeat,
        backoff=Backoff(patience_s=options.db_patience_s),
        notify=notify,
    )
    wanted = study_record(exp, checked.space, checked.dataset.fingerprint)
    # under the claim: workers started together must not see each other's half-written attrs
    with ledger.claim():
        updates = check_resume(
            ledger.name,
            ledger.attrs(),
            wanted,
            allow_strategy_change=options.allow_strategy_change,
            notify=notify,
        )
        if updates:
            ledger.set_attrs(updates)
    return ledger


def _warn_about_budget(strategy: Strategy, budget: int, notify: Notify | None) -> None:
    """A finite search (a grid) larger than the budget: say which part of it is evaluated."""
    size = strategy.size
    if size is None or notify is None or budget >= size:
        return
    notify(
        f"the trial budget ({budget}) cuts the grid of {size} candidates: the first "
        f"{budget} in grid order are evaluated (raise --trials to {size} for all)"
    )
