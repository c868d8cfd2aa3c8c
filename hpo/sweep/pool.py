"""Trials run in recycled training processes; a recycle never pauses the sweep.

Why processes: TensorFlow's resident memory grows ~5 MB per trial even after
`clear_session()`, so a process is replaced after `budget.recycle_after` trials, which keeps
memory bounded on long sweeps. It also keeps TensorFlow out of the orchestrating process,
lets a Ctrl-C stop training at once, and gives `--workers N` true parallelism (processes beat
threads under the GIL).

Why not `ProcessPoolExecutor(max_tasks_per_child=...)`: it starts the replacement only once
the old process has exited, and the sweep then waits 6-11 s while the newcomer imports
TensorFlow. Here every worker slot is a single-process pool; when its process takes its
last task, a spare is started and initialized alongside, and the next task goes to the
spare while the old process is retired. The worker-process side is hpo/trial/worker.py.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from hpo.config.experiment import Experiment
from hpo.data.dataset import Dataset
from hpo.models import shipped_builder
from hpo.sweep.processes import (
    StartedProcess,
    healthy,
    sigint_ignored_by_children,
    single_process_pool,
    stop_pool,
)
from hpo.sweep.threads import threads_per_process
from hpo.trial.task import LedgerRef, TrialResult, TrialTask
from hpo.trial.worker import configure, init_worker, run_task, warm_up

# a process's first task, run before any trial: (function, arguments)
ReadyTask = tuple[Callable[..., int], tuple[Any, ...]]


def _spawn(threads: int, device_env: dict[str, str] | None) -> StartedProcess:
    pool = single_process_pool(init_worker, (threads, device_env))
    since = time.monotonic()
    with sigint_ignored_by_children():
        pool.submit(warm_up)  # the process is spawned (and imports TensorFlow) now
    return StartedProcess(pool, since)


@dataclass
class EarlyStart:
    """Training processes started before the sweep exists, for `TrialExecutor` to adopt."""

    threads: int
    processes: list[StartedProcess] = field(default_factory=list)

    def take(self) -> list[StartedProcess]:
        taken, self.processes = self.processes, []
        return taken


@contextmanager
def early_training_processes(
    experiment: Experiment,
    workers: int,
    threads: int | None = None,
    device_envs: Sequence[dict[str, str]] = (),
) -> Iterator[EarlyStart]:
    """Spawn the sweep's training processes first, so TensorFlow's start-up (4-6 s) runs
    while this process checks the experiment, loads the data and opens the ledger and
    MLflow (the time to the first trial is the longer of the two, not their sum). What no
    sweep adopted is stopped on the way out (bad input, Ctrl-C). Slot n's process trains on
    `device_envs[n]` (hpo/sweep/devices.py), as the pool's later processes of that slot."""
    early = EarlyStart(threads or threads_per_process(experiment, workers))
    try:
        early.processes = [
            _spawn(early.threads, device_envs[n] if n < len(device_envs) else None)
            for n in range(workers)
        ]
        yield early
    finally:
        for started in early.take():
            stop_pool(started.pool)


class _TasksLeft(Protocol):
    tasks_left: int | None


class _Slot:
    """One training process (a single-process pool) and, near its recycle, its warm spare.

    The spare is started early enough to be ready when the current process retires: at
    its last task at the latest, earlier when the remaining tasks (at their median
    duration) would end before a process can start (twice the last start-up, for the CPU
    the spare takes from the trial training beside it).
    """

    def __init__(
        self,
        start: Callable[[], ProcessPoolExecutor],
        recycle_after: int,
        budget: _TasksLeft | None = None,
        *,
        ready_task: ReadyTask = (warm_up, ()),
        first: StartedProcess | None = None,
    ):
        self._start = start
        self.recycle_after = recycle_after
        self._budget = budget
        self._ready_task = ready_task
        self.warm_seconds: float | None = None  # how long the last process took to start
        self.task_seconds: deque[float] = deque(maxlen=9)  # the latest tasks' durations
        self.pool, self.ready = self._warm(first)
        self.spare: ProcessPoolExecutor | None = None
        self.spare_ready: Future[int] | None = None  # the spare's pid once it is initialized
        self.used = first.used if first else 0  # tasks given to the current process
        self._futures: list[Future[Any]] = []
        self._draining: list[ProcessPoolExecutor] = []  # retired with tasks still queued

    def _warm(
        self, started: StartedProcess | None = None
    ) -> tuple[ProcessPoolExecutor, Future[int]]:
        """A new pool whose process starts (and runs the initializer) right now, or one
        started earlier; its first task (`ready_task`) gives it what the sweep needs."""
        since = time.monotonic() if started is None else started.since
        pool = self._start() if started is None else started.pool
        function, args = self._ready_task
        with sigint_ignored_by_children():
            ready = pool.submit(function, *args)  # a new pool's process is spawned here
        ready.add_done_callback(self._timer(since, self._started))
        return pool, ready

    def _started(self, seconds: float) -> None:
        self.warm_seconds = seconds

    @staticmethod
    def _timer(since: float, record: Callable[[float], None]) -> Callable[[Future[Any]], None]:
        def done(future: Future[Any]) -> None:
            if not future.cancelled() and future.exception() is None:
                record(time.monotonic() - since)

        return done

    @property
    def busy(self) -> int:
        self._futures = [f for f in self._futures if not f.done()]
        return len(self._futures)

    def spare_due(self) -> bool:
        left = None if self._budget is None else self._budget.tasks_left
        if left is not None and left <= self.recycle_after - self.used:
            return False  # this process can take every task the sweep has left
        if self.used >= self.recycle_after:
            return True
        if self.warm_seconds is None or not self.task_seconds:
            return False
        task = statistics.median(self.task_seconds)
        return (self.recycle_after - self.used) * task <= 2 * self.warm_seconds

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        retiring = self._swap_in_spare() if self.used >= self.recycle_after else None
        self.used += 1
        future = self.pool.submit(fn, *args)
        future.add_done_callback(self._timer(time.monotonic(), self.task_seconds.append))
        self._futures.append(future)
        if retiring is not None:  # once the task is on its way: tearing TensorFlow down is slow
            self._retire(*retiring)
        # warm the successor meanwhile; not beside the first task of a fresh process (both
        # would compete for the CPU while it starts) unless it is also the last one
        first = retiring is not None and self.used < self.recycle_after
        if self.spare is None and not first and self.spare_due():
            self.spare, self.spare_ready = self._warm()
        return future

    def _swap_in_spare(self) -> tuple[ProcessPoolExecutor, bool]:
        """Make the spare current; returns the old pool and whether it is idle."""
        old = (self.pool, self.busy == 0)
        if self.spare is None or self.spare_ready is None:  # (not expected: due at the limit)
            self.spare, self.spare_ready = self._warm()
        self.pool, self.ready = self.spare, self.spare_ready
        self.spare = self.spare_ready = None
        self.used = 0
        self._futures = []
        return old

    def _retire(self, pool: ProcessPoolExecutor, idle: bool) -> None:
        if idle:
            stop_pool(pool)
        else:  # tasks still queued on it: they finish, then its process exits
            pool.shutdown(wait=False)
            self._draining.append(pool)

    def pools(self) -> list[ProcessPoolExecutor]:
        spare = [self.spare] if self.spare is not None else []
        return [self.pool, *spare, *self._draining]

    def kill(self) -> None:
        for pool in self.pools():
            stop_pool(pool)
        self.spare = self.spare_ready = None
        self._draining = []

    def hand_over(self) -> StartedProcess | None:
        """The current process, when it is idle, healthy and not due for recycling, for
        the next sweep to adopt; everything else of the slot (spare, draining) stops."""
        keep = None
        ready = self.ready.done() and self.ready.exception() is None
        if ready and self.busy == 0 and self.used < self.recycle_after and healthy(self.pool):
            keep = StartedProcess(self.pool, time.monotonic(), self.used)
        for pool in self.pools():
            if keep is None or pool is not keep.pool:
                stop_pool(pool)
        self.spare = self.spare_ready = None
        self._draining = []
        return keep


class RecyclingPool:
    """`workers` processes, each replaced after `recycle_after` tasks by a spare that was
    started and initialized while the old one ran its last task. A task goes to the least
    busy slot. A process that dies breaks only its own slot's pool (BrokenProcessPool on its
    futures); `restart()` replaces everything."""

    def __init__(
        self,
        workers: int,
        recycle_after: int,
        initializer: Callable[..., None],
        initargs: tuple[Any, ...],
        max_tasks: int | None = None,
        slot_initargs: Sequence[tuple[Any, ...]] = (),
        *,
        ready_task: ReadyTask = (warm_up, ()),
        started: Sequence[StartedProcess] = (),
    ):
        self.workers = workers
        self.recycle_after = recycle_after
        self._initializer, self._initargs = initializer, initargs
        self._ready_task = ready_task
        self._started = list(started)  # processes spawned before the pool: the first slots
        # per slot, appended to `initargs` (slot i's training processes: its device)
        self._slot_initargs = slot_initargs
        # the most tasks the sweep can still submit (its trial budget): a process that can
        # take all of them needs no successor, so no spare is started for nothing
        self.tasks_left = max_tasks
        self.slots = self._new_slots()

    def _new_pool(self, slot: int = 0) -> ProcessPoolExecutor:
        extra = self._slot_initargs[slot] if slot < len(self._slot_initargs) else ()
        return single_process_pool(self._initializer, (*self._initargs, *extra))

    def _new_slots(self) -> list[_Slot]:
        started, self._started = self._started, []  # adopted once; a restart starts anew
        return [
            _Slot(
                functools.partial(self._new_pool, n),
                self.recycle_after,
                self,
                ready_task=self._ready_task,
                first=started[n] if n < len(started) else None,
            )
            for n in range(self.workers)
        ]

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        if self.tasks_left is not None:
            self.tasks_left -= 1
        slot = min(self.slots, key=lambda s: s.busy)
        return slot.submit(fn, *args)

    def restart(self) -> None:
        self.kill()
        self.slots = self._new_slots()

    def kill(self) -> None:
        for slot in self.slots:
            slot.kill()

    def hand_over(self) -> list[StartedProcess]:
        """Each slot's reusable process (`_Slot.hand_over`); the rest is stopped. The pool
        is empty afterwards (a later `kill()` stops nothing that was handed on)."""
        slots, self.slots = self.slots, []
        return [kept for slot in slots if (kept := slot.hand_over()) is not None]


class TrialExecutor:
    """The sweep's training processes: `workers` of them, recycled every `recycle_after`
    trials without a pause. Processes started early (`early_training_processes`) are
    adopted as the first ones."""

    def __init__(
        self,
        experiment: Experiment,
        dataset: Dataset,
        model_root: str,
        workers: int,
        ledger: LedgerRef,
        threads: int | None = None,
        early: EarlyStart | None = None,
        device_envs: Sequence[dict[str, str]] = (),
        keep: EarlyStart | None = None,
    ):
        self.workers = workers
        self._keep = keep  # where `release()` hands the processes on (None: they stop)
        threads = early.threads if early else threads or threads_per_process(experiment, workers)
        # the processes start TensorFlow now (or did already), while MLflow is being set up
        self._pool = RecyclingPool(
            workers,
            experiment.budget.recycle_after,
            init_worker,
            (threads,),
            max_tasks=experiment.budget.trials,
            ready_task=(
                configure,
                (
                    experiment.model_dump_json(),
                    dataset,
                    model_root,
                    ledger,
                    shipped_builder(experiment.model.builder),  # hpo.run(builder=...) by value
                ),
            ),
            started=early.take() if early else (),
            # each slot's processes pinned to its device (hpo/sweep/devices.py)
            slot_initargs=[(env,) for env in device_envs],
        )

    def submit(self, task: TrialTask) -> Future[TrialResult]:
        return self._pool.submit(run_task, task)

    def restart(self) -> None:
        """After a training process died (BrokenProcessPool): start afresh."""
        self._pool.restart()

    def kill(self) -> None:
        """Stop at once: terminate every training process (spares too), release the pools."""
        self._pool.kill()

    def release(self) -> None:
        """The sweep is over. With `keep`, the idle, healthy training processes go to the
        next sweep (`hpo compare` runs its sweeps one after another: TensorFlow starts
        once, not once per sweep; the next sweep's first task, `configure`, sets them up
        for it) and the rest stops; without, everything stops at once."""
        if self._keep is None:
            self.kill()
        else:
            self._keep.processes.extend(self._pool.hand_over())
