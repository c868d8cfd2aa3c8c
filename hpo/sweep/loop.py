"""The sweep loop: ask -> submit -> settle -> tell, and tell the listeners.

It keeps `workers` trials training in a pool of processes, records every outcome in the
ledger and tells the strategy. What else a trial needs (its MLflow run, the progress bar) is
a listener's job (hpo.sweep.listeners), and every collaborator is passed in (hpo.sweep.setup
builds the real ones), so the loop imports no MLflow, tqdm or Keras and is unit-tested with a
fake pool and an in-memory ledger.

Faults end in a consistent state: a trial is FAIL in the ledger and its listeners hear of
it; Ctrl-C and SIGTERM end the sweep KILLED (hpo.sweep.signals), never half-recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import nullcontext
from typing import TYPE_CHECKING, Protocol

from hpo.errors import Interrupted, SweepAborted
from hpo.search.base import SearchExhausted, Strategy, TrialRequest
from hpo.study.retry import DatabaseUnavailable
from hpo.study.trial_cache import LedgerCursor
from hpo.sweep.listeners import ListenerList, SweepEnd, SweepListener
from hpo.sweep.outcomes import InFlight, Outcomes, Settled, result_of
from hpo.sweep.signals import StopSignals, signals_ignored
from hpo.sweep.stop_rules import Stop, should_stop
from hpo.sweep.summary import Standing, SweepSummary
from hpo.sweep.tally import Tally
from hpo.trial.task import TrialResult, TrialTask

if TYPE_CHECKING:
    from hpo.config.experiment import Experiment
    from hpo.config.space import SearchSpace
    from hpo.study.ledger import Ledger

STALE_REASON = "its process ended before the trial finished"


class TrialPool(Protocol):
    """Where trials train (hpo.sweep.pool.TrialExecutor: recycled training processes)."""

    def submit(self, task: TrialTask) -> Future[TrialResult]: ...

    def restart(self) -> None:
        """Replace a pool whose process died (the futures raised BrokenProcessPool)."""

    def kill(self) -> None:
        """Stop every training process at once."""

    def release(self) -> None:
        """The sweep is over: stop the processes, or hand them to the next sweep."""


class _Intake:
    """Whether to start another trial, and which: a free worker, budget left (the trials of
    every worker on the study count, finished and running), time left (like Optuna's
    timeout: checked before each new trial, after at least one), and a candidate (a dead
    worker's re-queued trial comes before the strategy's next suggestion)."""

    def __init__(
        self,
        ledger: Ledger,
        strategy: Strategy,
        space: SearchSpace,
        workers: int,
        clock: Callable[[], float],
    ):
        self.ledger, self.strategy, self.space = ledger, strategy, space
        self.workers = workers
        self.clock = clock
        self.deadline: float | None = None
        self.started = 0  # trials this orchestrator started
        self._exhausted = False  # the strategy has no candidate left

    def past_deadline(self) -> bool:
        return self.deadline is not None and self.clock() >= self.deadline

    def has_room(self, in_flight: int) -> bool:
        return in_flight < self.workers and not (self.started and self.past_deadline())

    def ask(self, standing: Standing, in_flight: int) -> list[InFlight]:
        """New trials for the free workers; run under the ledger's claim."""
        asked: list[InFlight] = []
        taken = standing.counted + standing.running
        while self.has_room(in_flight + len(asked)) and taken + len(asked) < standing.budget:
            request = self._next_request(standing)
            if request is None:
                break
            beat = self.ledger.heartbeat_thread(request.number)
            beat.start()  # first beat now, while the claim still holds
            asked.append(InFlight(request, beat))
            self.started += 1
        return asked

    def may_get_a_retry(self, standing: Standing) -> bool:
        """With no trial of our own in flight, stay while another worker's trial runs and the
        budget is not spent: if that worker dies, its trial is retried here."""
        if not self.ledger.heartbeats or self.past_deadline():
            return False
        return standing.counted < standing.budget and (standing.running > 0 or standing.waiting)

    def _next_request(self, standing: Standing) -> TrialRequest | None:
        if standing.waiting:  # a dead worker's trial, re-queued: it runs first
            retry = self.ledger.ask_retry(self.space)
            if retry is not None:
                return TrialRequest(*retry)
        if self._exhausted:
            return None
        try:
            return self.strategy.ask()
        except SearchExhausted:
            self._exhausted = True  # e.g. a grid with no candidate left
            return None


class _DeadTrials:
    """Trials whose process died: failed at start, and (shared database ledgers, where
    other workers train) found by their stale heartbeat while the sweep runs."""

    def __init__(
        self,
        ledger: Ledger,
        listeners: SweepListener,
        every_s: float,
        notify: Callable[[str], None] | None,
    ):
        self.ledger, self.listeners, self.every_s, self.notify = ledger, listeners, every_s, notify

    def fail_left_running(self) -> None:
        if self.ledger.heartbeats:  # other workers may be training: only trials without heartbeat
            stale = [number for number, _ in self.ledger.fail_stale()]
        else:  # one orchestrator per study: whatever is RUNNING now was left by a dead one
            stale = self.ledger.fail_running(STALE_REASON)
        if stale:
            self.listeners.on_trials_stale(stale, STALE_REASON)

    def reap(self) -> None:
        """Fail trials of dead workers (heartbeat too old); Optuna re-queues them."""
        failed = self.ledger.fail_stale(every_s=self.every_s)
        if failed:
            numbers = [number for number, _ in failed]
            self.listeners.on_trials_stale(numbers, STALE_REASON)
            if self.notify is not None:
                listed = ", ".join(str(n) for n in numbers)
                self.notify(f"trial(s) {listed} of a dead worker failed as stale; retried")


class Sweep:
    """Run trials of `strategy` in `pool` until the budget, the timeout or the search ends.

    The budget counts the trials of every worker on the study; `started` (a `clock` reading)
    is when the set-up began, which the timeout and the wall time count from.
    """

    def __init__(
        self,
        experiment: Experiment,
        space: SearchSpace,
        *,
        ledger: Ledger,
        strategy: Strategy,
        pool: TrialPool,
        listeners: Sequence[SweepListener] = (),
        workers: int = 1,
        stale_check_s: float = 10.0,
        notify: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        started: float | None = None,
    ):
        self.experiment, self.space = experiment, space
        self.ledger, self.strategy, self.pool = ledger, strategy, pool
        self.listeners = ListenerList(listeners)
        self.stale_check_s = stale_check_s  # how often to look for dead workers' trials
        self._clock = clock
        self._started = started
        self._intake = _Intake(ledger, strategy, space, workers, clock)
        self._dead = _DeadTrials(ledger, self.listeners, stale_check_s, notify)
        self._outcomes = Outcomes(ledger, strategy, self.listeners, experiment)
        self._in_flight: dict[Future[TrialResult], InFlight] = {}
        self._standing = Standing(experiment)
        # each read brings only what changed into running totals: flat cost per trial
        self._cursor, self._tally = LedgerCursor(), Tally(experiment)
        self._broken = False  # a training process died: restart the pool once it drains
        self._stop: Stop | None = None  # a budget.stop_when rule ended the sweep early

    def run(self) -> SweepSummary:
        started = self._clock() if self._started is None else self._started
        timeout = self.experiment.budget.timeout_s
        self._intake.deadline = started + timeout if timeout else None
        try:
            with StopSignals() as stop:
                self._dead.fail_left_running()  # before the strategy replays the ledger
                self.strategy.attach(self.ledger)
                self._loop(stop)
                # the sweep run's final writes are bookkeeping too: a signal waits for them
                summary = self._finish("FINISHED", started)
                late = stop.received is not None
        except DatabaseUnavailable as err:
            with signals_ignored():
                self._give_up(str(err))
            raise
        except KeyboardInterrupt:
            with signals_ignored():
                self._abandon_in_flight("interrupted (Ctrl-C or SIGTERM)")
                self._finish("KILLED", started)
            raise Interrupted(
                f"sweep interrupted; completed trials are kept: resume with --study "
                f"{self.ledger.name}"
            ) from None
        except BaseException as err:
            with signals_ignored():
                self._abandon_in_flight(f"sweep stopped: {err}")
                self._finish("FAILED", started)
            raise
        if late:  # Ctrl-C while the finished sweep was written: it is complete, and says so
            raise Interrupted(f"interrupted after the sweep {self.ledger.name} had finished")
        return summary

    # ---------------------------------------------------------------- the loop

    def _loop(self, stop: StopSignals) -> None:
        """Keep `workers` trials training. The critical path between two trials is only
        ledger + strategy (tell, ask); the listeners run while the next trial trains."""
        standing = self._bookkeep([])
        self.listeners.on_sweep_start(standing)
        while True:
            stop.check()
            self._outcomes.announce(self._in_flight.values())
            if self._in_flight:
                with stop.interruptible():
                    done, _ = wait(list(self._in_flight), return_when=FIRST_COMPLETED, timeout=1)
                settled = [self._settle(future) for future in done]
            elif not self._broken and not self._stop and self._intake.may_get_a_retry(standing):
                with stop.interruptible():  # another worker's trial may go stale: wait
                    time.sleep(min(1.0, self.stale_check_s))
                settled = []
            else:
                return
            standing = self._bookkeep(settled)

    def _bookkeep(self, settled: Settled) -> Standing:
        """After a trial settled (or while there is room): ONE ledger read, from which the
        abort rule, the budget, the next trials and the listeners all take what they need."""
        if self._broken and not self._in_flight:
            self.pool.restart()
            self._broken = False
        self._dead.reap()
        room = not self._broken and self._intake.has_room(len(self._in_flight))
        if not settled and not room:
            return self._standing  # nothing happened: nothing to read
        # "check the budget, then ask" under the ledger's claim, so several workers never
        # overshoot the budget or take the same grid candidate
        with self.ledger.claim() if room else nullcontext():
            changes = self.ledger.changes(self._cursor)
            standing = self._standing = self._tally.update(changes)
            failure = standing.initial_failure() if settled else None
            asked = []
            if room and failure is None and not self._stopped_early(standing):
                asked = self._intake.ask(standing, len(self._in_flight))
        if failure is not None:
            self._outcomes.end_all(settled, standing)
            raise SweepAborted(failure)
        self._submit(asked, standing)  # the next trials train before we log the last ones
        self._outcomes.end_all(settled, standing)
        return standing

    def _stopped_early(self, standing: Standing) -> bool:
        """budget.stop_when (hpo/sweep/stop_rules.py) on the study's trials; once it holds,
        no new trial starts (those in flight finish). The rules read the whole (cached)
        trial list, so only a sweep that sets `stop_when` pays that O(n) per iteration."""
        if self.experiment.budget.stop_when is None:
            return False
        self._stop = self._stop or should_stop(self.ledger.trials(), self.experiment)
        return self._stop is not None

    def _submit(self, asked: Iterable[InFlight], standing: Standing) -> None:
        exp = self.experiment
        for flight in asked:
            number = flight.request.number
            task = TrialTask(
                number=number,
                params=flight.request.params,
                seed=exp.seed + number,
                model_threshold=standing.best_value,
                save_model=exp.tracking.log_models,
                trial_id=self.ledger.trial_id(number),
                runner=self.strategy.trial_runner(),
            )
            self._in_flight[self.pool.submit(task)] = flight

    # ---------------------------------------------------------------- one trial

    def _settle(self, future: Future[TrialResult]) -> tuple[InFlight, TrialResult]:
        """Take a finished trial's result into the ledger and the strategy."""
        flight = self._in_flight.pop(future)
        result, died = result_of(future)
        self._broken = self._broken or died
        try:
            self._outcomes.tell(flight, result)
        finally:
            flight.stop_beating()
        return flight, result

    # ---------------------------------------------------------------- the end

    def _abandon_in_flight(self, reason: str) -> None:
        """Kill the training and mark every trial in flight FAIL (kept out of the budget)."""
        self.pool.kill()
        self._outcomes.abandon(list(self._in_flight.values()), reason, self._standing)
        self._in_flight.clear()

    def _give_up(self, reason: str) -> None:
        """The ledger database is gone: stop training; write nothing to the ledger.

        The trials in flight stay RUNNING there without heartbeats, so the next worker to
        start fails them as stale and retries them; none counts as complete."""
        self.pool.kill()
        for flight in self._in_flight.values():
            flight.stop_beating()
        lost = tuple(flight.request.number for flight in self._in_flight.values())
        self._in_flight.clear()
        self.listeners.on_sweep_end(SweepEnd("FAILED", None, lost=lost, error=reason))

    def _finish(self, status: str, started: float) -> SweepSummary:
        final = self._tally.update(self.ledger.changes(self._cursor))
        summary = SweepSummary.of(
            final, self.ledger.name, self._clock() - started, new_trials=self._intake.started
        )
        if self._stop is not None and status == "FINISHED":
            summary.stop_reason, summary.stop_detail = self._stop.reason, self._stop.detail
        others_running = self.ledger.heartbeats and final.running > 0
        try:
            self.listeners.on_sweep_end(SweepEnd(status, summary, others_running=others_running))
        except Exception:
            if status == "FINISHED":
                raise
            # stopping for another reason already: that reason is the one reported
        finally:
            self.pool.release()  # nothing left to run; a graceful TensorFlow exit costs ~3 s
        return summary
