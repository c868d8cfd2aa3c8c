"""Shared base for backends that propose a whole vector (scikit-optimize, bayes_opt).

Such backends have no notion of conditional parameters, so the space is *flattened*: every
non-fixed parameter is a dimension, the backend proposes all of them, and the trial uses only
the ones that are active (the others are recorded in the backend with the value it chose,
which did not affect the score). Fixed parameters never become dimensions.

Failed or NaN trials are never registered as targets (bayes_opt breaks for good on NaN,
skopt aborts); see each adapter for how it avoids proposing the same point again.

Several workers (and `--workers N` in one orchestrator) share the ledger, which the backend
does not see. Before every ask the strategy therefore (1) teaches the backend the trials
other workers finished since it last looked, and (2) treats the trials still running (its
own and other workers') with a *constant liar* (Ginsbourger et al. 2010, scikit-optimize's
`cl_min`): a throwaway copy of the backend is told that each pending point scored the best
(`liar: min`), mean or worst loss seen so far, and the next point is asked from that copy, so
a model-based backend does not propose a point that is already being evaluated.
"""

from __future__ import annotations

import math
import statistics
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import Field

from hpo.config.space import Param
from hpo.search.base import Outcome, Strategy, StrategyOptions, TrialRequest
from hpo.study.ledger import Ledger, LedgerTrial

Point = dict[str, Any]


class VectorOptions(StrategyOptions):
    liar: Literal["min", "mean", "max"] = Field(
        default="min",
        description="loss a pending point is assumed to have (constant liar) while it runs",
    )


VectorOptionsT = TypeVar("VectorOptionsT", bound=VectorOptions)


class VectorStrategy(Strategy[VectorOptionsT]):
    """Ask a backend for a full point, run its active part, tell it the score."""

    # True: the backend searches log-scale parameters as log10(value) (bayes_opt has no
    # log prior); False: it has its own (skopt's "log-uniform")
    log10_space: ClassVar[bool] = False

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.dimensions: list[Param] = [p for p in self.space.params if p.kind != "fixed"]
        self._pending: dict[int, Point] = {}  # this strategy's trials still running
        self._known: set[int] = set()  # ledger trials the backend has been told about
        self._losses: list[float] = []  # finite losses told, for the liar and failures

    # ----------------------------------------------------------- backend hooks

    @abstractmethod
    def _start(self) -> None:
        """Create the backend optimiser (called on attach)."""

    @abstractmethod
    def _propose(self, pending: Sequence[Point], lie: float | None) -> Point:
        """A full point: a value for every dimension.

        `pending` are points being evaluated right now; a model-based backend tells a
        throwaway copy of itself that each scored `lie` before asking (constant liar).
        `lie` is None while no loss is known yet.
        """

    @abstractmethod
    def _observe(self, point: Point, loss: float) -> None:
        """Register a finished point; `loss` is always to be minimised."""

    def _failed(self, point: Point) -> None:
        """A point that produced no score (default: nothing is registered)."""

    # ----------------------------------------------------------- Strategy

    def attach(self, ledger: Ledger) -> None:
        super().attach(ledger)
        self._start()
        self._pending, self._known, self._losses = {}, set(), []
        self._catch_up(ledger.trials())  # resume / warm start: replay finished trials

    def ask(self) -> TrialRequest:
        ledger = self.ledger  # raises when not attached
        trials = ledger.trials()
        self._catch_up(trials)  # what other workers finished meanwhile
        pending = [
            self._pending.get(t.number) or self._complete_point(t.params)
            for t in trials
            if t.state == "RUNNING"
        ]
        point = self._propose(pending, self._lie() if pending else None)
        params = self.space.sample(lambda p: p.value if p.kind == "fixed" else point[p.name])
        trial, actual = ledger.ask_fixed(self.space, params)
        # a queued (--enqueue) configuration may have taken this slot: learn what ran
        self._pending[trial.number] = point if actual == params else self._complete_point(actual)
        return TrialRequest(trial.number, actual)

    def tell(self, request: TrialRequest, outcome: Outcome) -> None:
        point = self._pending.pop(request.number, None)
        if point is None:
            return
        self._known.add(request.number)
        if outcome.usable:
            assert outcome.values is not None
            self._learn(point, self._loss(outcome.values[0]))
        else:
            self._failed(point)

    @property
    def observed(self) -> int:
        """How many finished trials the backend has learnt from (any worker's)."""
        return len(self._losses)

    # ----------------------------------------------------------- several workers

    def _catch_up(self, trials: Sequence[LedgerTrial]) -> None:
        """Teach the backend every COMPLETE ledger trial it has not been told about."""
        for trial in trials:
            if trial.number in self._known or trial.number in self._pending:
                continue
            if trial.state == "COMPLETE" and trial.values:
                self._known.add(trial.number)
                self._learn(self._complete_point(trial.params), self._loss(trial.values[0]))

    def _learn(self, point: Point, loss: float) -> None:
        if math.isfinite(loss):
            self._losses.append(loss)
        self._observe(point, loss)

    def _lie(self) -> float | None:
        """The constant liar's value for pending points (in loss terms)."""
        if not self._losses:
            return None
        liar = self.options.liar
        if liar == "mean":
            return statistics.fmean(self._losses)
        return min(self._losses) if liar == "min" else max(self._losses)

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

    def _complete_point(self, params: dict[str, Any]) -> Point:
        """A ledger trial's params, with inactive dimensions filled by their default."""
        return {p.name: params.get(p.name, p.default()) for p in self.dimensions}
