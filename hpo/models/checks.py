"""Keras-free checks of a family's parameter values against the data, run twice.

Why both places: preflight runs them over every value a search space can produce, so a
base that cannot take the images, an unknown cell type or a missing weights file exits 2
before anything is written (and without importing keras); the builders run the same
checks on the concrete values of one trial, so calling a builder directly fails with the
same clear message. Each family's own `check` sits in its module; the pieces every family
uses are here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "nadam", "adagrad")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "gelu", "swish", "silu", "softplus")

# every value the search space can give each parameter name (one trial: one value each)
Options = Mapping[str, Sequence[Any]]
Check = Callable[[Options, tuple[int, ...], bool], None]


class ModelInputError(ValueError):
    """A parameter value or data shape the family cannot use; `field` names the culprit."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def check_choice(options: Options, name: str, allowed: Iterable[Any]) -> None:
    allowed = tuple(allowed)
    for value in options.get(name, ()):
        if value not in allowed:
            raise ModelInputError(
                f"{name} {value!r} is not one of {', '.join(map(str, allowed))}",
                field=f"search_space.{name}",
            )


def check_common(options: Options) -> None:
    """The optimizer and activation every family takes."""
    for value in options.get("optimizer", ()):
        if str(value).lower() not in OPTIMIZERS:
            raise ModelInputError(
                f"unknown optimizer {value!r} (known: {', '.join(OPTIMIZERS)})",
                field="search_space.optimizer",
            )
    check_choice(options, "activation", ACTIVATIONS)
    check_choice(options, "class_weight", ("none", "balanced"))  # hpo/data/class_weight.py


def not_text(family: str, is_text: bool) -> None:
    if is_text:
        raise ModelInputError(
            f"the {family} builder takes numeric features, but the data is text; "
            "use the rnn or attention builder",
            field="model.builder",
        )


def as_options(params: Mapping[str, Any]) -> dict[str, list[Any]]:
    """One trial's parameters in the shape the checks take (every name -> its values)."""
    return {name: [value] for name, value in params.items()}
