"""The recycling pool: the successor process is started and initialized before its
predecessor retires, so a recycle costs the sweep no start-up time (timings: benchmarks)."""

from __future__ import annotations

import os
import time
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import pytest

from hpo.sweep.pool import RecyclingPool

_initialized: list[int] = []


def _initializer(tag: str) -> None:
    os.environ["HPO_TEST_POOL"] = tag
    _initialized.append(os.getpid())


def _whoami() -> tuple[int, str | None, bool]:
    """(pid, what the initializer set, whether it ran in this very process)."""
    return os.getpid(), os.environ.get("HPO_TEST_POOL"), os.getpid() in _initialized


def _die() -> None:
    os._exit(1)


def _all_ended(processes: list[Any], within_s: float = 10.0) -> bool:
    """Polled: the pool's own manager thread may be reaping the same processes."""
    deadline = time.monotonic() + within_s
    while any(p.is_alive() for p in processes):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def pool():
    created = RecyclingPool(1, 2, _initializer, ("warm",))
    yield created
    created.kill()


def test_the_spare_is_warm_before_the_recycle_and_pids_rotate(pool: RecyclingPool) -> None:
    slot = pool.slots[0]
    first = [pool.submit(_whoami).result(timeout=60) for _ in range(2)]
    assert first[0] == first[1]
    pid, tag, initialized = first[0]
    assert tag == "warm" and initialized
    # the current process has taken its last task: its successor is already running
    assert slot.spare is not None and slot.spare_ready is not None
    spare_pid = slot.spare_ready.result(timeout=60)  # returns only after the initializer
    assert spare_pid != pid
    # not swapped in yet: the old process is still the current one, and alive
    assert [p.is_alive() for p in slot.pool._processes.values()] == [True]  # type: ignore[attr-defined]

    second = [pool.submit(_whoami).result(timeout=60) for _ in range(2)]
    assert {p for p, _, _ in second} == {spare_pid}
    assert all(tag == "warm" and initialized for _, tag, initialized in second)
    third = pool.submit(_whoami).result(timeout=60)
    assert third[0] not in (pid, spare_pid)


def test_kill_stops_the_spare_too_and_restart_recovers_from_a_dead_process(
    pool: RecyclingPool,
) -> None:
    pool.submit(_whoami).result(timeout=60)
    pool.submit(_whoami).result(timeout=60)  # the second task: a spare is warming up
    slot = pool.slots[0]
    processes = [p for q in slot.pools() for p in q._processes.values()]  # type: ignore[attr-defined]
    assert len(processes) == 2
    pool.kill()
    assert _all_ended(processes)

    pool.restart()
    with pytest.raises(BrokenProcessPool):
        pool.submit(_die).result(timeout=60)
    pool.restart()
    assert pool.submit(_whoami).result(timeout=60)[1] == "warm"


def test_tasks_spread_over_the_slots() -> None:
    pool = RecyclingPool(2, 5, _initializer, ("warm",))
    try:
        futures = [pool.submit(_whoami) for _ in range(2)]
        assert len({f.result(timeout=60)[0] for f in futures}) == 2
    finally:
        pool.kill()


def test_no_spare_is_started_when_the_current_process_can_take_every_task_left() -> None:
    """A sweep whose whole budget fits in one process never pays for a second TensorFlow."""
    created = RecyclingPool(1, 2, _initializer, ("warm",), max_tasks=2)
    try:
        first = [created.submit(_whoami).result(timeout=60) for _ in range(2)]
        assert first[0][0] == first[1][0]
        assert created.slots[0].spare is None  # at its limit, but nothing is left to run
    finally:
        created.kill()
    more = RecyclingPool(1, 2, _initializer, ("warm",), max_tasks=3)
    try:
        [more.submit(_whoami).result(timeout=60) for _ in range(2)]
        assert more.slots[0].spare is not None  # a third task is coming: warm its process
    finally:
        more.kill()


def test_a_stopped_pool_leaves_no_manager_thread_for_the_exit_hook() -> None:
    """Python 3.11's exit hook writes to the pipe of every live pool manager thread; a thread
    still ending then had closed it, and a refused `hpo run` printed a traceback (seen in CI)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from hpo.sweep.processes import stop_pool

    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    assert pool.submit(os.getpid).result(timeout=60) != os.getpid()
    manager = pool._executor_manager_thread
    assert manager is not None and manager.is_alive()
    stop_pool(pool)
    assert not manager.is_alive()


def test_a_finished_pool_hands_its_idle_process_to_the_next_one() -> None:
    """`hpo compare` runs sweeps one after another on the same training processes: the next
    pool adopts the process (its first task sets it up again) and counts its trials."""
    from hpo.sweep.pool import EarlyStart

    first = RecyclingPool(1, 5, _initializer, ("first",))
    pid = first.submit(_whoami).result(timeout=60)[0]
    kept = EarlyStart(threads=1)
    kept.processes.extend(first.hand_over())
    (handed,) = kept.processes
    assert handed.used == 1
    second = RecyclingPool(1, 5, _initializer, ("second",), started=kept.take())
    try:
        assert second.submit(_whoami).result(timeout=60)[0] == pid  # no new process
        assert second.slots[0].used == 2  # recycling still counts every trial it ran
    finally:
        second.kill()
    # a process due for recycling (or dead) is stopped, not handed on
    worn = RecyclingPool(1, 1, _initializer, ("worn",))
    worn.submit(_whoami).result(timeout=60)
    processes = list(worn.slots[0].pool._processes.values())  # type: ignore[attr-defined]
    assert worn.hand_over() == []
    assert _all_ended(processes)
