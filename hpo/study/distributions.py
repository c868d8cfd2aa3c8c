"""From hpo's neutral parameters to Optuna: distributions and define-by-run suggestions."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from hpo.config.space import Param


def distribution(param: Param) -> BaseDistribution:
    """The Optuna distribution of one neutral parameter."""
    if param.kind == "float":
        assert param.low is not None and param.high is not None
        return FloatDistribution(param.low, param.high, log=param.log, step=param.step)
    if param.kind == "int":
        assert param.low is not None and param.high is not None
        return IntDistribution(
            int(param.low), int(param.high), log=param.log, step=int(param.step or 1)
        )
    if param.kind == "categorical":
        return CategoricalDistribution(param.choices)
    return CategoricalDistribution((param.value,))


def suggest(trial: optuna.Trial, param: Param) -> Any:
    """Ask an Optuna trial for one parameter (define-by-run keeps conditions exact)."""
    if param.kind == "float":
        assert param.low is not None and param.high is not None
        return trial.suggest_float(
            param.name, param.low, param.high, log=param.log, step=param.step
        )
    if param.kind == "int":
        assert param.low is not None and param.high is not None
        return trial.suggest_int(
            param.name, int(param.low), int(param.high), step=int(param.step or 1), log=param.log
        )
    if param.kind == "categorical":
        return trial.suggest_categorical(param.name, list(param.choices))
    return trial.suggest_categorical(param.name, [param.value])  # fixed: recorded, not searched
