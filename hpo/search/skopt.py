"""scikit-optimize's `Optimizer` (ask/tell) with a GP, random-forest or GBRT surrogate.

skopt minimises; the direction is handled once in VectorStrategy._loss. Log-scale floats
and ints use skopt's `log-uniform` prior; stepped parameters are searched as an integer
index; categoricals as labels. A failed trial is told the worst loss seen so far (never
NaN), because skopt's next `ask()` would otherwise return the same failing point again.
Pending points (several workers) are handled as skopt's own `ask(n_points)` does: a copy of
the optimizer is told the liar's value for each, then asked.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from hpo.config.space import Param
from hpo.search.base import Capabilities
from hpo.search.vector import Point, VectorOptions, VectorStrategy

NOTES = (
    "conditional parameters are flattened (searched always, used when active); "
    "several workers: constant liar on pending points"
)


class SkoptOptions(VectorOptions):
    n_initial_points: int = Field(default=10, ge=1)
    acq_func: Literal["gp_hedge", "EI", "PI", "LCB"] = "gp_hedge"


class SkoptStrategy(VectorStrategy[SkoptOptions]):
    base_estimator: ClassVar[str] = ""
    capabilities = Capabilities(notes=NOTES)
    Options = SkoptOptions

    def surrogate(self) -> Any:
        """skopt's name for the surrogate model, or an estimator instance."""
        return self.base_estimator

    def _dimension(self, param: Param) -> Any:
        from skopt.space import Categorical, Integer, Real

        assert param.kind in ("float", "int", "categorical")
        if param.kind == "categorical":
            return Categorical([str(i) for i in range(len(param.choices))], name=param.name)
        assert param.low is not None and param.high is not None
        if param.step:
            steps = round((param.high - param.low) / param.step)
            return Integer(0, steps, name=param.name)
        prior = "log-uniform" if param.log else "uniform"
        if param.kind == "int":
            return Integer(int(param.low), int(param.high), prior=prior, name=param.name)
        return Real(param.low, param.high, prior=prior, name=param.name)

    def _start(self) -> None:
        from skopt import Optimizer

        opts = self.options
        self._optimizer = Optimizer(
            [self._dimension(p) for p in self.dimensions],
            base_estimator=self.surrogate(),
            n_initial_points=opts.n_initial_points,
            acq_func=opts.acq_func,
            random_state=self.seed + len(self.ledger.trials()),
        )

    def _propose(self, pending: Sequence[Point], lie: float | None) -> Point:
        opts = self.options
        optimizer = self._optimizer
        with warnings.catch_warnings():  # "objective has been evaluated at this point before"
            warnings.simplefilter("ignore", UserWarning)
            # while skopt still samples its initial points at random, lies would only cut
            # that phase short: its random state already keeps pending points apart
            if pending and lie is not None and len(optimizer.Xi) >= opts.n_initial_points:
                optimizer = optimizer.copy(random_state=optimizer.rng.randint(0, 2**31 - 1))
                optimizer.tell([self._x(point) for point in pending], [lie] * len(pending))
            raw = optimizer.ask()
        return {p.name: self.decode(p, r) for p, r in zip(self.dimensions, raw, strict=True)}

    def _x(self, point: Point) -> list[Any]:
        return [self.encode(p, point[p.name]) for p in self.dimensions]

    def _observe(self, point: Point, loss: float) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            self._optimizer.tell(self._x(point), loss)

    def _failed(self, point: Point) -> None:
        if self._losses:  # the worst loss seen (finite: only finite losses are kept)
            self._observe(point, max(self._losses))


class SkoptGPStrategy(SkoptStrategy):
    name = "skopt-gp"
    base_estimator = "GP"


class SkoptForestStrategy(SkoptStrategy):
    name = "skopt-forest"
    base_estimator = "RF"


class SkoptGBRTStrategy(SkoptStrategy):
    name = "skopt-gbrt"

    def surrogate(self) -> Any:
        """skopt's GBRT surrogate, made recognisable to scikit-learn >= 1.6.

        skopt 0.10 (unmaintained) lists BaseEstimator before RegressorMixin, so on
        scikit-learn >= 1.6 `is_regressor(GradientBoostingQuantileRegressor())` is False and
        skopt refuses its own estimator ("has to be a regressor"). The tag is set here.
        """
        from sklearn.ensemble import GradientBoostingRegressor
        from skopt.learning import GradientBoostingQuantileRegressor

        class TaggedGBRT(GradientBoostingQuantileRegressor):
            def __sklearn_tags__(self) -> Any:
                tags = super().__sklearn_tags__()
                tags.estimator_type = "regressor"
                return tags

            def predict(
                self, X: Any, return_std: bool = False, return_quantiles: bool = False
            ) -> Any:
                # skopt's own predict calls np.in1d, removed in NumPy 2.4
                if not return_std or return_quantiles:
                    return super().predict(X, return_std, return_quantiles)
                by_quantile = dict(zip(self.quantiles, self.regressors_, strict=True))
                low, mean, high = (by_quantile[q].predict(X) for q in (0.16, 0.5, 0.84))
                return mean, (high - low) / 2.0

        return TaggedGBRT(
            base_estimator=GradientBoostingRegressor(n_estimators=30, loss="quantile"),
            random_state=self.seed,
        )
