"""Grid search: every combination of discretised parameter values, in a documented order.

Ranges are discretised to `grid_points` values (default 3; log-spaced for log parameters;
overridable per parameter with `grid_points` or explicit `values`). Candidates are
enumerated like nested for-loops in search-space order, the LAST parameter changing
fastest; a conditional parameter only varies where it is active, so no two candidates
are the same trial. Each candidate is then evaluated by scikit-learn's `GridSearchCV` over
a SciKeras classifier in the training process (see hpo/trial/sklearn_cv.py), or with `cv: k`
by the k-fold cross-validation every strategy runs (hpo/trial/cv.py), so every candidate
becomes a trial run the moment it finishes, and a re-run of the study skips candidates
already in the ledger.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from hpo.config.param_specs import MAX_GRID_POINTS
from hpo.config.space import Param, Scalar, SearchSpace
from hpo.search.base import (
    Capabilities,
    SearchExhausted,
    Strategy,
    StrategyOptions,
    TrialRequest,
)
from hpo.trial.task import KerasFit, SklearnCV, TrialRunner


class GridOptions(StrategyOptions):
    grid_points: int = Field(
        default=3, ge=1, le=MAX_GRID_POINTS, description="values per range parameter"
    )
    cv: Literal["validation"] | int = Field(
        default="validation",
        description="'validation': the sweep's own validation split (PredefinedSplit); "
        "an int k: stratified k-fold on train + validation (as evaluation.cv: k)",
    )
    n_jobs: int = Field(default=1, ge=1, description="GridSearchCV's n_jobs (validation split)")

    @field_validator("cv")
    @classmethod
    def _folds(cls, cv: str | int) -> str | int:
        """One fold (or none) is no cross-validation: every trial would fail in training."""
        if isinstance(cv, int) and cv < 2:
            # experiment.py strips pydantic's "Value error, " prefix: one clean line
            raise ValueError(f"expected 'validation' or a number of folds >= 2 (got {cv})")
        return cv


def grid_values(param: Param, default_points: int) -> list[Scalar]:
    """The values a parameter takes in the grid."""
    if param.kind == "fixed":
        return [param.value]
    if param.kind == "categorical":
        return list(param.choices)
    if param.grid_values is not None:
        values: list[Any] = list(param.grid_values)
    else:
        assert param.low is not None and param.high is not None
        points = param.grid_points or default_points
        if points == 1:
            values = [param.default()]
        elif param.log:
            values = list(np.geomspace(param.low, param.high, points))
        else:
            values = list(np.linspace(param.low, param.high, points))
        if param.step:
            values = [param.low + round((v - param.low) / param.step) * param.step for v in values]
    cast: Any = round if param.kind == "int" else float
    return list(dict.fromkeys(cast(v) for v in values))  # in order, without duplicates


def enumerate_grid(space: SearchSpace, default_points: int) -> Iterator[dict[str, Any]]:
    """Every candidate, lazily (a grid can be far larger than any budget)."""
    values = {p.name: grid_values(p, default_points) for p in space.params}

    def walk(index: int, assigned: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if index == len(space.params):
            yield dict(assigned)
            return
        param = space.params[index]
        if param.condition is not None and not param.condition.holds(assigned):
            yield from walk(index + 1, assigned)
            return
        for value in values[param.name]:
            assigned[param.name] = value
            yield from walk(index + 1, assigned)
            del assigned[param.name]

    yield from walk(0, {})


def grid_size(space: SearchSpace, default_points: int) -> int:
    """How many candidates `enumerate_grid` yields, without enumerating them: a product
    over independent parameters and, for a parent, a sum over its values of the product of
    the children that value activates (each value list is built once, ≤ MAX_GRID_POINTS)."""
    values = {p.name: grid_values(p, default_points) for p in space.params}
    children: dict[str | None, list[Param]] = {}
    for param in space.params:
        children.setdefault(param.condition.parent if param.condition else None, []).append(param)

    def count(param: Param) -> int:
        below = children.get(param.name, [])
        return sum(
            math.prod(count(c) for c in below if c.condition and value in c.condition.values)
            for value in values[param.name]
        )

    return math.prod(count(p) for p in children.get(None, []))


def _key(params: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, repr(_normal(v))) for k, v in params.items()))


def _normal(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return int(value)
    if isinstance(value, float):
        return round(value, 12)
    return value


class GridStrategy(Strategy[GridOptions]):
    name = "grid"
    Options = GridOptions
    capabilities = Capabilities(
        notes="ranges discretised to grid_points values; trials run through GridSearchCV"
    )

    def attach(self, ledger: Any) -> None:
        super().attach(ledger)
        self._candidates = enumerate_grid(self.space, self.options.grid_points)

    @classmethod
    def size_of(cls, space: SearchSpace, options: GridOptions) -> int:
        return grid_size(space, options.grid_points)

    @classmethod
    def runner_for(cls, options: GridOptions) -> TrialRunner:
        """On the validation split each candidate goes through scikit-learn's GridSearchCV
        (trial/sklearn_cv.py); `cv: k` is `evaluation.cv: k`, the one cross-validation
        every strategy runs (trial/cv.py)."""
        if isinstance(options.cv, int):
            return KerasFit(folds=options.cv)
        return SklearnCV(cv=options.cv, n_jobs=options.n_jobs)

    def ask(self) -> TrialRequest:
        ledger = self.ledger
        done = {_key(t.params) for t in ledger.trials() if not t.interrupted}
        for candidate in self._candidates:
            if _key(candidate) in done:
                continue  # evaluated by an earlier run of this study
            trial, params = ledger.ask_fixed(self.space, candidate)
            return TrialRequest(trial.number, params)
        raise SearchExhausted(f"all {self.size} grid candidates have been evaluated")
