"""The sweep loop on its own: a fake pool, an in-memory ledger, no Keras, no MLflow.

Each test runs a whole sweep in milliseconds: budget, timeout, the initial-failures rule,
interrupts, resume, stale trials, the listeners' hooks and the cost of bookkeeping.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from itertools import pairwise
from typing import Any

import optuna
import pytest

from hpo.config.experiment import Experiment
from hpo.config.space import SearchSpace
from hpo.errors import Interrupted, SweepAborted
from hpo.search.base import (
    Capabilities,
    Outcome,
    SearchExhausted,
    Strategy,
    StrategyOptions,
    TrialRequest,
)
from hpo.study.ledger import Ledger
from hpo.sweep.listeners import SweepEnd, SweepListener
from hpo.sweep.loop import STALE_REASON, Sweep
from hpo.sweep.progress import ProgressListener
from hpo.sweep.summary import Standing
from hpo.trial.task import TrialResult, TrialTask
from tests.conftest import modules_loaded_by, tiny_experiment

Answer = Callable[[TrialTask], TrialResult | BaseException | None]


def scored(task: TrialTask) -> TrialResult:
    """Trial n scores f1 = 0.1 (n + 1): every trial beats the last."""
    return TrialResult(state="COMPLETE", metrics={"f1": 0.1 * (task.number + 1)}, n_params=10)


def failing(task: TrialTask) -> TrialResult:
    return TrialResult(state="FAIL", error=f"boom {task.number}")


class FakePool:
    """Answers every task at once with a completed future (None: it trains for ever)."""

    def __init__(self, answer: Answer = scored, on_submit: Callable[[], None] | None = None):
        self.answer, self.on_submit = answer, on_submit
        self.tasks: list[TrialTask] = []
        self.restarts = self.kills = 0

    def submit(self, task: TrialTask) -> Future[TrialResult]:
        self.tasks.append(task)
        if self.on_submit is not None:
            self.on_submit()
        future: Future[TrialResult] = Future()
        answer = self.answer(task)
        if isinstance(answer, BaseException):
            future.set_exception(answer)
        elif answer is not None:
            future.set_result(answer)
        return future

    def restart(self) -> None:
        self.restarts += 1

    def kill(self) -> None:
        self.kills += 1

    def release(self) -> None:
        self.kill()


class Recording(Strategy):
    """Random parameters from the ledger's own sampler; remembers what it was told."""

    name = "recording"
    capabilities = Capabilities()

    def __init__(self, space: SearchSpace, candidates: int | None = None):
        super().__init__(space, ["maximize"], 0, StrategyOptions())
        self.candidates = candidates
        self.told: list[tuple[int, Outcome]] = []

    def ask(self) -> TrialRequest:
        if self.candidates is not None:
            if self.candidates == 0:
                raise SearchExhausted("no candidate left")
            self.candidates -= 1
        return TrialRequest(*self.ledger.ask_sampled(self.space))

    def tell(self, request: TrialRequest, outcome: Outcome) -> None:
        self.told.append((request.number, outcome))


class Log(SweepListener):
    """Writes every hook it hears into a shared list, tagged with its name."""

    def __init__(self, name: str, events: list[tuple[Any, ...]]):
        self.name, self.events = name, events

    def on_sweep_start(self, standing: Standing) -> None:
        self.events.append((self.name, "sweep_start", standing.counted))

    def on_trial_start(self, trial: TrialRequest) -> None:
        self.events.append((self.name, "trial_start", trial.number))

    def on_trial_end(
        self, trial: TrialRequest, result: TrialResult, standing: Standing, *, killed: bool
    ) -> None:
        event = (self.name, "trial_end", trial.number, result.state, standing.counted, killed)
        self.events.append(event)

    def on_trials_stale(self, numbers: Sequence[int], reason: str) -> None:
        self.events.append((self.name, "stale", list(numbers), reason))

    def on_sweep_end(self, end: SweepEnd) -> None:
        self.events.append((self.name, "sweep_end", end.status))


def experiment(**changes: Any) -> Experiment:
    return Experiment.model_validate(tiny_experiment(**{"budget.trials": 4, **changes}))


def new_ledger() -> Ledger:
    ledger = Ledger.in_memory("s", ["maximize"])
    ledger.study.sampler = optuna.samplers.RandomSampler(seed=0)
    return ledger


def make_sweep(
    exp: Experiment,
    ledger: Ledger,
    pool: FakePool | None = None,
    strategy: Recording | None = None,
    **kwargs: Any,
) -> Sweep:
    return Sweep(
        exp,
        exp.space,
        ledger=ledger,
        strategy=strategy or Recording(exp.space),
        pool=pool or FakePool(),
        **kwargs,
    )


def states(ledger: Ledger) -> list[str]:
    return [t.state for t in ledger.trials()]


def test_the_budget_is_spent_and_the_strategy_is_told_every_outcome() -> None:
    exp, ledger, pool = experiment(), new_ledger(), FakePool()
    strategy = Recording(exp.space)
    summary = make_sweep(exp, ledger, pool, strategy).run()
    assert states(ledger) == ["COMPLETE"] * 4
    assert summary.states == {"COMPLETE": 4, "PRUNED": 0, "FAIL": 0} and summary.new_trials == 4
    assert summary.best is not None and summary.best.trial == 3
    assert [(n, o.state, o.values) for n, o in strategy.told] == [
        (n, "COMPLETE", (pytest.approx(0.1 * (n + 1)),)) for n in range(4)
    ]
    # each task: its seed, the best so far as the bar a model must beat, the strategy's runner
    assert [t.seed for t in pool.tasks] == [exp.seed + n for n in range(4)]
    thresholds = [t.model_threshold for t in pool.tasks]
    assert thresholds[0] is None and thresholds[1:] == pytest.approx([0.1, 0.2, 0.3])
    assert {t.runner for t in pool.tasks} == {strategy.trial_runner()}
    assert pool.kills >= 1  # training processes do not outlive the sweep


def test_several_workers_never_overshoot_the_budget() -> None:
    exp, ledger, pool = experiment(**{"budget.trials": 5}), new_ledger(), FakePool()
    summary = make_sweep(exp, ledger, pool, workers=2).run()
    assert len(pool.tasks) == 5 and summary.states["COMPLETE"] == 5


def test_the_timeout_stops_new_trials_after_at_least_one() -> None:
    now = [0.0]

    def train_ten_seconds() -> None:
        now[0] += 10

    exp = experiment(**{"budget.trials": 50, "budget.timeout_s": 25})
    pool = FakePool(on_submit=train_ten_seconds)
    summary = make_sweep(exp, new_ledger(), pool, clock=lambda: now[0]).run()
    assert len(pool.tasks) == 3  # started at 0, 10 and 20 s; at 30 s the time is up
    assert summary.wall_seconds == 30

    late = make_sweep(exp, new_ledger(), FakePool(), clock=lambda: 100.0, started=0.0)
    assert late.run().new_trials == 1  # the timeout never prevents the first trial


def test_the_sweep_stops_when_the_first_trials_all_fail() -> None:
    exp, ledger = experiment(**{"budget.max_initial_failures": 3}), new_ledger()
    events: list[tuple[Any, ...]] = []
    sweep = make_sweep(exp, ledger, FakePool(failing), listeners=[Log("a", events)])
    with pytest.raises(SweepAborted, match="first 3 trials all failed; last error: boom 2"):
        sweep.run()
    assert states(ledger) == ["FAIL"] * 3
    assert [e[2] for e in events if e[1] == "trial_end"] == [0, 1, 2]
    assert events[-1] == ("a", "sweep_end", "FAILED")


def test_a_failure_after_a_success_does_not_stop_the_sweep() -> None:
    def first_succeeds(task: TrialTask) -> TrialResult:
        return scored(task) if task.number == 0 else failing(task)

    exp = experiment(**{"budget.trials": 6, "budget.max_initial_failures": 2})
    summary = make_sweep(exp, new_ledger(), FakePool(first_succeeds)).run()
    assert summary.states == {"COMPLETE": 1, "PRUNED": 0, "FAIL": 5}


def test_a_trial_without_its_objective_value_fails() -> None:
    def no_f1(task: TrialTask) -> TrialResult:
        return TrialResult(state="COMPLETE", metrics={"accuracy": 0.5})

    exp, ledger = experiment(**{"budget.trials": 1}), new_ledger()
    make_sweep(exp, ledger, FakePool(no_f1)).run()
    (trial,) = ledger.trials()
    assert trial.state == "FAIL" and trial.error == "an objective metric is not a number"


def test_a_signal_during_bookkeeping_is_honoured_right_after() -> None:
    """Ctrl-C while trial 1 is being recorded: trial 1 is kept, trial 2 (already training)
    is failed as interrupted and does not count; the sweep ends KILLED."""
    events: list[tuple[Any, ...]] = []

    class CtrlC(SweepListener):
        def on_trial_end(
            self, trial: TrialRequest, result: TrialResult, standing: Standing, *, killed: bool
        ) -> None:
            if trial.number == 1:
                signal.raise_signal(signal.SIGINT)

    exp, ledger = experiment(**{"budget.trials": 10}), new_ledger()
    sweep = make_sweep(exp, ledger, listeners=[CtrlC(), Log("a", events)])
    with pytest.raises(Interrupted, match="resume with --study s"):
        sweep.run()
    trials = ledger.trials()
    assert [t.state for t in trials] == ["COMPLETE", "COMPLETE", "FAIL"]
    assert trials[2].interrupted and trials[2].error == "interrupted (Ctrl-C or SIGTERM)"
    assert sum(t.counts_toward_budget for t in trials) == 2
    assert events[-3:] == [
        ("a", "trial_start", 2),
        ("a", "trial_end", 2, "FAIL", 2, True),
        ("a", "sweep_end", "KILLED"),
    ]


def test_a_signal_while_training_interrupts_at_once() -> None:
    def trains_for_ever_after_the_first(task: TrialTask) -> TrialResult | None:
        return scored(task) if task.number == 0 else None

    main = threading.main_thread().ident
    assert main is not None
    exp, ledger = experiment(**{"budget.trials": 10}), new_ledger()
    sweep = make_sweep(exp, ledger, FakePool(trains_for_ever_after_the_first))
    timer = threading.Timer(0.05, signal.pthread_kill, (main, signal.SIGTERM))
    timer.start()
    try:
        with pytest.raises(Interrupted):
            sweep.run()
    finally:
        timer.cancel()
    trials = ledger.trials()
    assert [t.state for t in trials] == ["COMPLETE", "FAIL"] and trials[1].interrupted


def test_a_second_sweep_on_the_ledger_resumes_up_to_the_budget() -> None:
    ledger = new_ledger()
    first = make_sweep(experiment(**{"budget.trials": 3}), ledger).run()
    again = make_sweep(experiment(**{"budget.trials": 5}), ledger).run()
    done = make_sweep(experiment(**{"budget.trials": 5}), ledger).run()
    assert (first.new_trials, again.new_trials, done.new_trials) == (3, 2, 0)
    assert done.states["COMPLETE"] == 5 and done.best is not None and done.best.trial == 4


def test_trials_left_running_by_a_dead_orchestrator_fail_at_start() -> None:
    ledger, events = new_ledger(), list[tuple[Any, ...]]()
    ledger.study.ask()
    ledger.study.ask()  # two trials a killed orchestrator never finished
    sweep = make_sweep(experiment(**{"budget.trials": 2}), ledger, listeners=[Log("a", events)])
    assert sweep.run().states == {"COMPLETE": 2, "PRUNED": 0, "FAIL": 2}
    stale = ledger.trials()[:2]
    assert all(t.state == "FAIL" and t.interrupted and t.error == STALE_REASON for t in stale)
    assert events[0] == ("a", "stale", [0, 1], STALE_REASON)


def test_listeners_hear_every_hook_in_order() -> None:
    events: list[tuple[Any, ...]] = []
    exp = experiment(**{"budget.trials": 2})
    make_sweep(exp, new_ledger(), listeners=[Log("a", events), Log("b", events)]).run()
    assert events == [
        ("a", "sweep_start", 0),
        ("b", "sweep_start", 0),
        ("a", "trial_start", 0),
        ("b", "trial_start", 0),
        ("a", "trial_end", 0, "COMPLETE", 1, False),
        ("b", "trial_end", 0, "COMPLETE", 1, False),
        ("a", "trial_start", 1),
        ("b", "trial_start", 1),
        ("a", "trial_end", 1, "COMPLETE", 2, False),
        ("b", "trial_end", 1, "COMPLETE", 2, False),
        ("a", "sweep_end", "FINISHED"),
        ("b", "sweep_end", "FINISHED"),
    ]


def test_the_progress_listener_shows_count_budget_and_best() -> None:
    shown: list[tuple[int, int, float | None]] = []
    exp = experiment(**{"budget.trials": 3})
    make_sweep(exp, new_ledger(), listeners=[ProgressListener(lambda *a: shown.append(a))]).run()
    assert shown == [(0, 3, None), (1, 3, 0.1), (2, 3, 0.2), (3, 3, pytest.approx(0.3))]


def test_a_dead_training_process_fails_its_trial_and_the_pool_restarts() -> None:
    def dies_once(task: TrialTask) -> TrialResult | BaseException:
        return BrokenProcessPool("killed") if task.number == 0 else scored(task)

    ledger, pool = new_ledger(), FakePool(dies_once)
    make_sweep(experiment(**{"budget.trials": 3}), ledger, pool).run()
    trials = ledger.trials()
    assert trials[0].state == "FAIL" and trials[0].error == "the training process died"
    assert pool.restarts == 1 and states(ledger)[1:] == ["COMPLETE", "COMPLETE"]


def test_a_search_that_runs_out_ends_the_sweep() -> None:
    exp = experiment(**{"budget.trials": 10})
    summary = make_sweep(exp, new_ledger(), strategy=Recording(exp.space, candidates=2)).run()
    assert summary.states["COMPLETE"] == 2


@pytest.mark.parametrize("earlier", [0, 150, 600])
def test_bookkeeping_reads_the_ledger_once_per_trial_whatever_the_study_size(
    earlier: int,
) -> None:
    """Budget, abort rule, best so far and progress all come from one read per trial, and
    that read converts only the trials that changed: the same work at trial 6 as at 606."""
    exp, ledger = experiment(**{"budget.trials": earlier + 6}), new_ledger()
    for _ in range(earlier):
        number, _params = ledger.ask_sampled(exp.space)
        ledger.finish(number, "COMPLETE", (0.01,), metrics={"f1": 0.01})
    ledger.trials()  # what a resuming strategy's attach reads: converted once, here
    reads, real_changes = [0], ledger.changes

    def counted_changes(cursor: Any) -> Any:
        reads[0] += 1
        return real_changes(cursor)

    ledger.changes = counted_changes  # type: ignore[method-assign]
    at_trial_end: list[tuple[int, int]] = []

    class Reads(SweepListener):
        def on_trial_end(
            self, trial: TrialRequest, result: TrialResult, standing: Standing, *, killed: bool
        ) -> None:
            at_trial_end.append((reads[0], ledger.cache.conversions))

    summary = make_sweep(exp, ledger, listeners=[Reads()]).run()
    assert len(at_trial_end) == 6
    assert [b[0] - a[0] for a, b in pairwise(at_trial_end)] == [1] * 5
    assert reads[0] == 6 + 2  # the first look, one per trial, the summary at the end
    # per trial: the one trial that finished since the last read is converted, nothing older
    assert [b[1] - a[1] for a, b in pairwise(at_trial_end)] == [1] * 5
    assert summary.states["COMPLETE"] == earlier + 6
    assert summary.best is not None and summary.best.trial == earlier + 5


def test_the_loop_imports_no_mlflow_or_tensorflow() -> None:
    """(tqdm cannot be checked so: Optuna itself imports it.)"""
    heavy = ("mlflow", "tensorflow", "keras", "hpo.tracking")
    assert modules_loaded_by("import hpo.sweep.loop, hpo.sweep.progress", heavy) == []
