"""Experiments in Python: from a YAML file, a dict or an `Experiment`, with in-memory data
and a builder function put in place of `data.source` and `model.builder`."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo.errors import UserInputError

if TYPE_CHECKING:
    from hpo.config.experiment import Experiment

# split settings an in-memory data set keeps from the config's data section
SPLIT_SETTINGS = ("validation_size", "test_size", "scaling", "max_samples", "seed")
# `hpo.run`'s keyword -> the dotted config field it overrides (as `hpo run`'s flags)
OVERRIDES = {
    "strategy": "strategy.name",
    "pruner": "strategy.pruner",
    "trials": "budget.trials",
    "timeout": "budget.timeout_s",
    "epochs": "budget.epochs",
    "seed": "seed",
}


def load_experiment(path: str | Path) -> Experiment:
    """Load and validate an experiment YAML file (as `hpo validate` reads it).

    The `data` section may hold only split settings and `model` may be left out when the
    data and the builder are given to `hpo.run(data=..., builder=...)`.

    Args:
        path: the YAML file; a `search_space:` naming a file is inlined.

    Returns:
        The validated, frozen `hpo.Experiment`.

    Raises:
        UserInputError: the file is missing, not YAML, or a field is wrong.
    """
    from hpo.config.experiment import load_experiment as load

    return load(path, partial=True)


def as_experiment(
    experiment: Experiment | str | Path | Mapping[str, Any], *, partial: bool = True
) -> tuple[Experiment, str]:
    """An `Experiment` from what `hpo.run` accepts, and the name its errors blame
    (`partial=False`: a file must be a whole experiment, as the CLI has always read it)."""
    from hpo.config.experiment import Experiment
    from hpo.config.experiment import load_experiment as load

    if isinstance(experiment, Experiment):
        return experiment, f"experiment {experiment.name!r}"
    if isinstance(experiment, str | Path):
        return load(experiment, partial=partial), str(experiment)
    if isinstance(experiment, Mapping):
        return Experiment.from_dict(dict(experiment)), "dict"
    raise UserInputError(
        f"expected an hpo.Experiment, a YAML path or a dict, got {type(experiment).__name__}",
        field="experiment",
    )


def with_data(experiment: Experiment, data: Any, target: str | None) -> Experiment:
    """The experiment reading `data` (kept as a content-addressed npz snapshot) instead of
    its `data.source`, with the config's split settings."""
    from hpo.config.experiment import Experiment
    from hpo.data.sources.in_memory import arrays_of, snapshot

    x, y = arrays_of(data, target)
    path = snapshot(x, y)
    settings = experiment.data.model_dump(mode="json")
    split = {k: settings[k] for k in SPLIT_SETTINGS if settings.get(k) is not None}
    raw = experiment.model_dump(mode="json")
    raw["data"] = {**split, "source": "npz", "path": str(path), "features": ["x"], "target": "y"}
    return Experiment.from_dict(raw, source="data=")


@dataclass(frozen=True)
class BuilderFunction:
    """A builder given as a function: its config name (`function:<name>@<hash>`, so a
    resumed study refuses a different function), its name and its source."""

    config_name: str
    name: str
    source: str


def with_builder(
    experiment: Experiment, builder: Callable[..., Any]
) -> tuple[Experiment, BuilderFunction]:
    """The experiment built by `builder`, registered in this process (the training
    processes get it by value)."""
    from hpo.models import FUNCTION_PREFIX, register_function

    if not callable(builder):
        raise UserInputError(
            "builder= must be a function build(params, input_shape, n_classes) -> keras.Model, "
            f"got {type(builder).__name__}",
            field="builder",
        )
    name = getattr(builder, "__qualname__", None) or type(builder).__name__
    source = _source_of(builder)
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:12]
    config_name = f"{FUNCTION_PREFIX}{re.sub(r'[^A-Za-z0-9_.<>]', '_', name)}@{digest}"
    register_function(config_name, builder)
    return (
        experiment.with_overrides(**{"model.builder": config_name}),
        BuilderFunction(config_name, name, source),
    )


def _source_of(function: Callable[..., Any]) -> str:
    """The function's source; without one (built by `exec`), its bytecode stands in."""
    import inspect

    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        code = getattr(function, "__code__", None)
        body = repr((code.co_code, code.co_consts, code.co_names)) if code else repr(function)
        return f"# source not available; bytecode:\n# {body}\n"
