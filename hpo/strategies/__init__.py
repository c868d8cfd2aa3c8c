"""Strategy registry: name -> lazily imported class, so `hpo --help` imports no backend."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hpo.errors import UserInputError

if TYPE_CHECKING:
    from hpo.space import SearchSpace
    from hpo.strategies.base import Direction, Strategy

REGISTRY: dict[str, str] = {
    "random": "hpo.strategies.optuna_samplers:RandomStrategy",
    "optuna-tpe": "hpo.strategies.optuna_samplers:TPEStrategy",
}


def strategy_class(name: str) -> type[Strategy]:
    if name not in REGISTRY:
        raise UserInputError(
            f"unknown strategy {name!r} (known: {', '.join(REGISTRY)})", field="strategy.name"
        )
    module, attr = REGISTRY[name].split(":")
    cls: type[Strategy] = getattr(importlib.import_module(module), attr)
    return cls


def create_strategy(
    name: str,
    options: dict[str, Any],
    space: SearchSpace,
    directions: Sequence[Direction],
    seed: int,
) -> Strategy:
    """Build a strategy, turning bad options or unsupported features into exit-2 errors."""
    from pydantic import ValidationError

    from hpo.strategies.base import UnsupportedFeature

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
        cls.check(space, directions)
    except UnsupportedFeature as err:
        raise UserInputError(str(err), field="strategy.name") from None
    return cls(space, directions, seed, parsed)
