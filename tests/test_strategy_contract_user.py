"""A strategy hpo does not ship, held to the shipped contract (hpo.testing), as a user would.

`UniformStrategy` lives only here: it is not in hpo's registry, so the contract builds it
through an overridden `create()`. If the contract could only test registered strategies,
this file would fail.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from hpo.config.space import Param, SearchSpace
from hpo.search.base import Capabilities, Direction, Strategy, StrategyOptions, TrialRequest
from hpo.study.ledger import Ledger
from hpo.testing.strategy_contract import StrategyContract


class UniformStrategy(Strategy[StrategyOptions]):
    """Independent uniform draws (log-uniform on log scales) from numpy: no model at all."""

    name: ClassVar[str] = "user-uniform"
    capabilities: ClassVar[Capabilities] = Capabilities(notes="a user's own strategy")

    def attach(self, ledger: Ledger) -> None:
        # a resumed study must not replay the first run's draws (the contract checks it)
        super().attach(ledger)
        self._rng = np.random.default_rng([self.seed, len(ledger.trials())])

    def _draw(self, param: Param) -> Any:
        if param.kind == "fixed":
            return param.value
        if param.kind == "categorical":
            return param.choices[int(self._rng.integers(len(param.choices)))]
        assert param.low is not None and param.high is not None
        low, high = (
            (math.log(param.low), math.log(param.high)) if param.log else (param.low, param.high)
        )
        value = float(self._rng.uniform(low, high))
        value = math.exp(value) if param.log else value
        if param.kind == "int":
            return int(min(max(round(value), param.low), param.high))
        return value

    def ask(self) -> TrialRequest:
        trial, params = self.ledger.ask_fixed(self.space, self.space.sample(self._draw))
        return TrialRequest(trial.number, params)


class TestAUsersOwnStrategy(StrategyContract):
    strategy_name = "user-uniform"
    guided = False

    def create(self, space: SearchSpace, directions: Sequence[Direction], seed: int) -> Strategy:
        UniformStrategy.check(space, directions)
        return UniformStrategy(space, directions, seed, StrategyOptions())
