"""Training processes start before the sweep is set up (time to the first trial): the pool
adopts them, gives each the sweep with its first task, and bad input stops them."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from hpo.cli import main
from hpo.sweep.pool import RecyclingPool
from hpo.sweep.processes import StartedProcess, single_process_pool

_configured: list[str] = []


def _initializer(tag: str) -> None:
    os.environ["HPO_TEST_EARLY"] = tag


def _spawned() -> int:
    return os.getpid()


def _configure(sweep: str) -> int:
    _configured.append(sweep)
    return os.getpid()


def _whoami() -> tuple[int, str | None, list[str]]:
    return os.getpid(), os.environ.get("HPO_TEST_EARLY"), list(_configured)


def test_the_pool_adopts_a_process_started_before_it_and_configures_it_first() -> None:
    early = single_process_pool(_initializer, ("early",))
    early_pid = early.submit(_spawned).result(timeout=60)  # spawned ahead of the sweep
    pool = RecyclingPool(
        2,
        5,
        _initializer,
        ("late",),
        ready_task=(_configure, ("sweep-1",)),
        started=[StartedProcess(early, time.monotonic())],
    )
    try:
        adopted, fresh = pool.slots
        assert adopted.ready.result(timeout=60) == early_pid  # the same process, configured
        pid, tag, configured = pool.submit(_whoami).result(timeout=60)
        assert (pid, tag, configured) == (early_pid, "early", ["sweep-1"])
        # the second slot had nothing to adopt: a new process, configured the same way
        fresh_pid = fresh.ready.result(timeout=60)
        assert fresh_pid != early_pid
        assert fresh.submit(_whoami).result(timeout=60) == (fresh_pid, "late", ["sweep-1"])
    finally:
        pool.kill()


def test_bad_input_stops_the_training_processes_started_early(
    write_config: Any, workdir: Path
) -> None:
    config = write_config(**{"data.source": "csv", "data.path": "missing.csv"})
    before = set(multiprocessing.active_children())
    result = CliRunner().invoke(main, ["run", str(config), "--quiet"])
    assert result.exit_code == 2, result.output
    assert "missing.csv" in result.stderr
    started = [p for p in multiprocessing.active_children() if p not in before]
    deadline = time.monotonic() + 15  # terminated at once; reaping may take a moment
    while any(p.is_alive() for p in started) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [p for p in started if p.is_alive()] == []
    assert not (workdir / "mlflow.db").exists()  # nothing was set up for a bad config


def test_thread_rule_follows_the_measurement() -> None:
    """benchmarks/threads.py: one worker's MLP uses every core, the small CNN, recurrent and
    attention models one thread; side-by-side workers share the cores."""
    from hpo.config.experiment import Experiment
    from hpo.sweep.threads import threads_per_process
    from tests.conftest import tiny_experiment

    def exp(builder: str) -> Experiment:
        return Experiment.model_validate(tiny_experiment(**{"model.builder": builder}))

    assert threads_per_process(exp("mlp"), workers=1, cpus=2) == 2
    assert threads_per_process(exp("mlp"), workers=2, cpus=2) == 1
    assert threads_per_process(exp("mlp"), workers=2, cpus=8) == 4
    for family in ("cnn", "rnn", "attention"):
        assert threads_per_process(exp(family), workers=1, cpus=2) == 1
    assert threads_per_process(exp("transfer"), workers=1, cpus=4) == 4  # not measured: share
