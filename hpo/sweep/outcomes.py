"""How a trial ends: in the ledger and the strategy first, then in the listeners.

The loop (hpo.sweep.loop) settles each trial here: its result, or a FAIL saying why there is
none (a dead training process, a missing objective value), is told to the ledger and the
strategy, and every listener hears of it, even when one of them fails on an earlier trial.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hpo.search.base import Outcome, Strategy, TrialRequest
from hpo.sweep.listeners import SweepListener
from hpo.sweep.summary import Standing
from hpo.trial.task import TrialResult

if TYPE_CHECKING:
    from hpo.config.experiment import Experiment
    from hpo.study.heartbeat import BeatingThread
    from hpo.study.ledger import Ledger


@dataclass
class InFlight:
    request: TrialRequest
    beat: BeatingThread  # the ledger's heartbeat, beaten while the trial trains elsewhere
    announced: bool = False  # the listeners heard on_trial_start

    def stop_beating(self) -> None:
        self.beat.join()


Settled = list[tuple[InFlight, TrialResult]]


class Outcomes:
    """Tells the ledger, the strategy and the listeners how each trial of a sweep ended."""

    def __init__(
        self, ledger: Ledger, strategy: Strategy, listeners: SweepListener, experiment: Experiment
    ):
        self.ledger, self.strategy = ledger, strategy
        self.listeners, self.experiment = listeners, experiment

    def announce(self, flights: Iterable[InFlight]) -> None:
        for flight in flights:
            if not flight.announced:
                self.listeners.on_trial_start(flight.request)
                flight.announced = True

    def tell(self, flight: InFlight, result: TrialResult, *, interrupted: bool = False) -> None:
        values = objective_values(result, self.experiment)
        self.ledger.finish(
            flight.request.number,
            result.state,  # type: ignore[arg-type]
            values if result.state == "COMPLETE" else None,
            metrics=result.scores(),
            error=result.error,
            interrupted=interrupted,
        )
        self.strategy.tell(flight.request, Outcome(result.state, values))  # type: ignore[arg-type]

    def end_all(self, settled: Settled, standing: Standing, *, killed: bool = False) -> None:
        """Every settled trial reaches the listeners, even after one of them failed on an
        earlier trial (a listener keeps what it cannot write); then the first error."""
        failed: Exception | None = None
        for flight, result in settled:
            try:
                self.announce([flight])
                self.listeners.on_trial_end(flight.request, result, standing, killed=killed)
            except Exception as err:
                failed = failed or err
        if failed is not None:
            raise failed

    def abandon(self, flights: Sequence[InFlight], reason: str, standing: Standing) -> None:
        """Every trial in flight FAIL, interrupted. The sweep stops for a reason of its own,
        the one reported: a listener failing now (it keeps what it cannot write) is not."""
        for flight in flights:
            with suppress(Exception):  # its run id goes into the ledger before it is finished
                self.announce([flight])
            result = TrialResult(state="FAIL", error=reason)
            self.tell(flight, result, interrupted=True)
            flight.stop_beating()
            with suppress(Exception):
                self.end_all([(flight, result)], standing, killed=True)


def result_of(future: Future[TrialResult]) -> tuple[TrialResult, bool]:
    """The trial's result, or a FAIL saying why there is none; and whether its process died."""
    try:
        return future.result(), False
    except BrokenProcessPool:  # the training process died (OOM kill, segfault, kill -9)
        return TrialResult(state="FAIL", error="the training process died"), True
    except Exception as err:  # pickling or a bug in the worker: fail this trial only
        return TrialResult(state="FAIL", error=f"{type(err).__name__}: {err}"), False


def objective_values(result: TrialResult, experiment: Experiment) -> tuple[float, ...] | None:
    """The objective values to store; a COMPLETE trial without them becomes a FAIL."""
    found = [result.value(o.metric) for o in experiment.objectives]
    values = tuple(v for v in found if v is not None) if None not in found else None
    if result.state == "COMPLETE" and values is None:
        result.state = "FAIL"
        result.error = result.error or "an objective metric is not a number"
    return values
