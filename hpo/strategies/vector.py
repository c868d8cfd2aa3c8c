"""Shared base for backends that propose a whole vector (scikit-optimize, bayes_opt).

Such backends have no notion of conditional parameters, so the space is *flattened*: every
non-fixed parameter is a dimension, the backend proposes all of them, and the trial uses only
the ones that are active (the others are recorded in the backend with the value it chose,
which did not affect the score). Fixed parameters never become dimensions.

Failed or NaN trials are never registered as targets (bayes_opt breaks for good on NaN,
skopt aborts); see each adapter for how it avoids proposing the same point again.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from hpo.ledger import Ledger
from hpo.space import Param
from hpo.strategies.base import Outcome, Strategy, TrialRequest


class VectorStrategy(Strategy):
    """Ask a backend for a full point, run its active part, tell it the score."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.dimensions: list[Param] = [p for p in self.space.params if p.kind != "fixed"]
        self._pending: dict[int, dict[str, Any]] = {}

    # ----------------------------------------------------------- backend hooks

    @abstractmethod
    def _start(self) -> None:
        """Create the backend optimiser (called on attach)."""

    @abstractmethod
    def _propose(self) -> dict[str, Any]:
        """A full point: a value for every dimension."""

    @abstractmethod
    def _observe(self, point: dict[str, Any], loss: float) -> None:
        """Register a finished point; `loss` is always to be minimised."""

    def _failed(self, point: dict[str, Any]) -> None:
        """A point that produced no score (default: nothing is registered)."""

    # ----------------------------------------------------------- Strategy

    def attach(self, ledger: Ledger) -> None:
        super().attach(ledger)
        self._start()
        for trial in ledger.trials():  # resume / warm start: replay finished trials
            if trial.state == "COMPLETE" and trial.values:
                self._observe(self._complete_point(trial.params), self._loss(trial.values[0]))

    def ask(self) -> TrialRequest:
        ledger = self.ledger  # raises when not attached
        point = self._propose()
        params = self.space.sample(lambda p: p.value if p.kind == "fixed" else point[p.name])
        trial, actual = ledger.ask_fixed(self.space, params)
        # a queued (--enqueue) configuration may have taken this slot: learn what ran
        self._pending[trial.number] = point if actual == params else self._complete_point(actual)
        return TrialRequest(trial.number, actual)

    def tell(self, request: TrialRequest, outcome: Outcome) -> None:
        point = self._pending.pop(request.number, None)
        if point is None:
            return
        if outcome.usable:
            assert outcome.values is not None
            self._observe(point, self._loss(outcome.values[0]))
        else:
            self._failed(point)

    # ----------------------------------------------------------- helpers

    def _loss(self, value: float) -> float:
        """One place for direction: the backends here all minimise."""
        return -value if self.directions[0] == "maximize" else value

    def _complete_point(self, params: dict[str, Any]) -> dict[str, Any]:
        """A ledger trial's params, with inactive dimensions filled by their default."""
        return {p.name: params.get(p.name, p.default()) for p in self.dimensions}
