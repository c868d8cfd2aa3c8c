"""One training process as a single-process pool: start it, check it, stop it.

hpo/sweep/pool.py builds its recycled slots from these; they are apart because they are
about processes and signals, not about scheduling trials.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.util
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Terminate a pool's processes at once (a graceful TensorFlow exit costs ~3 s of CPU),
    then release the pool."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
    manager = getattr(pool, "_executor_manager_thread", None)
    pool.shutdown(wait=False, cancel_futures=True)
    # Python 3.11's exit hook wakes every live manager thread through a pipe the thread
    # closes as it ends: if it is still ending then, the hook dies on a closed pipe with a
    # traceback on stderr (seen after a refused `hpo run`). Its processes are gone, so the
    # thread ends at once; waiting for it here keeps the exit quiet.
    if manager is not None:
        manager.join(timeout=5)


@contextmanager
def sigint_ignored_by_children() -> Iterator[None]:
    """Processes spawned in this block ignore SIGINT from birth. A terminal's Ctrl-C goes
    to the whole process group: a child still importing (before `init_worker` ignores it)
    would die with a KeyboardInterrupt traceback on the user's stderr. An ignored signal is
    the one disposition a child keeps across exec, so the parent ignores SIGINT for the
    fork and exec only (not while it pickles the task for the child, which can wait for the
    child to start): a Ctrl-C in those milliseconds is lost, not half-handled."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    spawn = multiprocessing.util.spawnv_passfds

    def spawn_ignoring_sigint(path: bytes, args: Sequence[Any], passfds: Sequence[int]) -> int:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            return int(spawn(path, args, passfds))
        finally:
            signal.signal(signal.SIGINT, previous)

    multiprocessing.util.spawnv_passfds = spawn_ignoring_sigint
    try:
        yield
    finally:
        multiprocessing.util.spawnv_passfds = spawn


@dataclass(frozen=True)
class StartedProcess:
    """A training process spawned ahead of its pool (`since`: when, for its start-up time)."""

    pool: ProcessPoolExecutor
    since: float
    used: int = 0  # trials it already ran (a process handed on by an earlier sweep)


def healthy(pool: ProcessPoolExecutor) -> bool:
    """Its process is alive and the pool is not broken (a process that died breaks it)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    return (
        bool(processes)
        and not getattr(pool, "_broken", False)
        and all(p.is_alive() for p in processes)
    )


def single_process_pool(
    initializer: Callable[..., None], initargs: tuple[Any, ...]
) -> ProcessPoolExecutor:
    # children inherit the environment at spawn; set here, TensorFlow's C++ logs stay quiet
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=initializer,
        initargs=initargs,
    )
