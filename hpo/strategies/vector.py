"""Shared base for backends that propose a whole vector (scikit-optimize, bayes_opt).

Such backends have no notion of conditional parameters, so the space is *flattened*: every
non-fixed parameter is a dimension, the backend proposes all of them, and the trial uses only
the ones that are active (the others are recorded in the backend with the value it chose,
which did not affect the score). Fixed parameters never become dimensions.

Failed or NaN trials are never registered as targets (bayes_opt breaks for good on NaN,
skopt aborts); see each adapter for how it avoids proposing the same point again.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import Any, ClassVar

from hpo.ledger import Ledger
from hpo.space import Param
from hpo.strategies.base import Outcome, Strategy, TrialRequest


class VectorStrategy(Strategy):
    """Ask a backend for a full point, run its active part, tell it the score."""

    # True: the backend searches log-scale parameters as log10(value) (bayes_opt has no
    # log prior); False: it has its own (skopt's "log-uniform")
    log10_space: ClassVar[bool] = False

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

    def decode(self, param: Param, raw: Any) -> Any:
        """Backend value -> parameter value (categoricals are index labels, stepped
        parameters an integer index)."""
        if param.kind == "categorical":
            return param.choices[int(raw)]
        assert param.low is not None and param.high is not None
        if param.step:
            value = param.low + int(raw) * param.step
            return int(value) if param.kind == "int" else float(value)
        if param.log and self.log10_space:
            value = min(max(10 ** float(raw), param.low), param.high)
            return round(value) if param.kind == "int" else float(value)
        return int(raw) if param.kind == "int" else float(raw)

    def encode(self, param: Param, value: Any) -> Any:
        """Parameter value -> backend value (the inverse of `decode`)."""
        if param.kind == "categorical":
            return str(param.choices.index(value)) if value in param.choices else "0"
        assert param.low is not None
        if param.step:
            return round((value - param.low) / param.step)
        if param.log and self.log10_space:
            return math.log10(value)
        return int(value) if param.kind == "int" else float(value)

    def _loss(self, value: float) -> float:
        """One place for direction: the backends here all minimise."""
        return -value if self.directions[0] == "maximize" else value

    def _complete_point(self, params: dict[str, Any]) -> dict[str, Any]:
        """A ledger trial's params, with inactive dimensions filled by their default."""
        return {p.name: params.get(p.name, p.default()) for p in self.dimensions}
