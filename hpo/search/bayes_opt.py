"""The bayesian-optimization package (3.x): Gaussian-process BO with UCB / EI / PoI.

bayes_opt maximises over box bounds. Log-scale parameters are searched as log10 of the
value; ints use its typed `(low, high, int)` bounds; stepped parameters an integer index;
categoricals its (experimental) categorical bounds with string labels. A failed or NaN trial
is never registered: bayes_opt cannot recover once a NaN target is in its data. Pending
points (several workers) get the constant liar: a deep copy of the optimizer registers the
liar's value for each before `suggest`, so the real optimizer only ever holds real targets.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field

from hpo.config.space import Param
from hpo.search.base import Capabilities
from hpo.search.vector import Point, VectorOptions, VectorStrategy


class BayesOptOptions(VectorOptions):
    acquisition: Literal["ucb", "ei", "poi"] = "ucb"
    kappa: float = Field(default=2.576, gt=0, description="ucb exploration")
    xi: float = Field(default=0.01, ge=0, description="ei / poi exploration")
    n_initial_points: int = Field(default=5, ge=1, description="random points before the GP")


class BayesOptStrategy(VectorStrategy[BayesOptOptions]):
    name = "bayes-opt"
    log10_space = True
    Options = BayesOptOptions
    capabilities = Capabilities(
        notes="log scale searched as log10; categoricals are experimental in bayes_opt; "
        "conditional parameters are flattened; several workers: constant liar on pending "
        "points",
    )

    def _bounds(self, param: Param) -> tuple[Any, ...]:
        if param.kind == "categorical":
            return tuple(str(i) for i in range(len(param.choices)))
        assert param.low is not None and param.high is not None
        if param.step:
            return (0, round((param.high - param.low) / param.step), int)
        if param.log:
            return (math.log10(param.low), math.log10(param.high))
        if param.kind == "int":
            return (int(param.low), int(param.high), int)
        return (float(param.low), float(param.high))

    def _start(self) -> None:
        from bayes_opt import BayesianOptimization, acquisition

        opts = self.options
        seed = self.seed + len(self.ledger.trials())
        function = {
            "ucb": lambda: acquisition.UpperConfidenceBound(kappa=opts.kappa, random_state=seed),
            "ei": lambda: acquisition.ExpectedImprovement(xi=opts.xi, random_state=seed),
            "poi": lambda: acquisition.ProbabilityOfImprovement(xi=opts.xi, random_state=seed),
        }[opts.acquisition]()
        with warnings.catch_warnings():  # "Non-float parameters are experimental"
            warnings.simplefilter("ignore", UserWarning)
            self._optimizer = BayesianOptimization(
                f=None,
                pbounds={p.name: self._bounds(p) for p in self.dimensions},
                acquisition_function=function,
                random_state=seed,
                verbose=0,
                allow_duplicate_points=True,
            )
        import numpy as np

        self._random = np.random.default_rng(seed)
        self._registered = 0

    def _propose(self, pending: Sequence[Point], lie: float | None) -> Point:
        opts = self.options
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            if self._registered < opts.n_initial_points:
                raw = self._random_point()
            else:
                optimizer = self._optimizer
                if pending and lie is not None:
                    optimizer = copy.deepcopy(optimizer)
                    for point in pending:
                        optimizer.register(params=self._params(point), target=-lie)
                raw = optimizer.suggest()
        return {p.name: self.decode(p, raw[p.name]) for p in self.dimensions}

    def _params(self, point: Point) -> dict[str, Any]:
        return {p.name: self.encode(p, point[p.name]) for p in self.dimensions}

    def _random_point(self) -> dict[str, Any]:
        """Initial exploration: uniform inside bayes_opt's own bounds (log10 for log)."""
        point: dict[str, Any] = {}
        for param in self.dimensions:
            bounds = self._bounds(param)
            if param.kind == "categorical":
                point[param.name] = bounds[int(self._random.integers(len(bounds)))]
            elif len(bounds) == 3:
                point[param.name] = int(self._random.integers(bounds[0], bounds[1] + 1))
            else:
                point[param.name] = float(self._random.uniform(bounds[0], bounds[1]))
        return point

    def _observe(self, point: Point, loss: float) -> None:
        if not math.isfinite(loss):
            return  # never: one NaN target breaks bayes_opt for good
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            self._optimizer.register(params=self._params(point), target=-loss)  # maximises
        self._registered += 1
