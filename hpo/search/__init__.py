"""Strategy registry: name -> lazily imported class, so `hpo --help` imports no backend."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hpo.errors import UserInputError

if TYPE_CHECKING:
    from hpo.config.experiment import Constraint, Experiment
    from hpo.config.space import SearchSpace
    from hpo.search.base import Direction, Strategy

REGISTRY: dict[str, str] = {
    "grid": "hpo.search.grid:GridStrategy",
    "random": "hpo.search.optuna_samplers:RandomStrategy",
    "optuna-tpe": "hpo.search.optuna_samplers:TPEStrategy",
    "optuna-gp": "hpo.search.optuna_samplers:GPStrategy",
    "optuna-cmaes": "hpo.search.optuna_samplers:CmaEsStrategy",
    "optuna-qmc": "hpo.search.optuna_samplers:QMCStrategy",
    "optuna-nsga2": "hpo.search.optuna_samplers:NSGA2Strategy",
    "bayes-opt": "hpo.search.bayes_opt:BayesOptStrategy",
    "skopt-gp": "hpo.search.skopt:SkoptGPStrategy",
    "skopt-forest": "hpo.search.skopt:SkoptForestStrategy",
    "skopt-gbrt": "hpo.search.skopt:SkoptGBRTStrategy",
}


def strategy_class(name: str) -> type[Strategy]:
    if name not in REGISTRY:
        raise UserInputError(
            f"unknown strategy {name!r} (known: {', '.join(REGISTRY)})", field="strategy.name"
        )
    module, attr = REGISTRY[name].split(":")
    cls: type[Strategy] = getattr(importlib.import_module(module), attr)
    return cls


def strategy_for(experiment: Experiment, space: SearchSpace) -> Strategy:
    """The experiment's strategy, with its pruner and constraints."""
    return create_strategy(
        experiment.strategy.name,
        experiment.strategy.options,
        space,
        experiment.directions,  # type: ignore[arg-type]
        experiment.seed,
        pruner=experiment.strategy.pruner,
        constraints=experiment.constraints,
    )


def create_strategy(
    name: str,
    options: dict[str, Any],
    space: SearchSpace,
    directions: Sequence[Direction],
    seed: int,
    *,
    pruner: str = "none",
    constraints: Sequence[Constraint] = (),
) -> Strategy:
    """Build a strategy, turning bad options or unsupported features into exit-2 errors."""
    from pydantic import ValidationError

    from hpo.search.base import UnsupportedFeature

    cls = strategy_class(name)
    try:
        parsed = cls.Options.model_validate(options)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        message = "unknown option" if first["type"] == "extra_forbidden" else first["msg"]
        raise UserInputError(
            f"{message} for strategy {name!r}", field=f"strategy.options.{key}"
        ) from None
    try:
        cls.check(space, directions, pruner)
    except UnsupportedFeature as err:
        raise UserInputError(str(err), field="strategy.name") from None
    return cls(space, directions, seed, parsed, pruner=pruner, constraints=constraints)
