"""Pieces every family shares: optimizers, regularizers and the compile step.

keras is imported inside the functions: family modules import this one to declare their
parameters, and reading those must not load TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hpo.models.checks import OPTIMIZERS

if TYPE_CHECKING:
    import keras

# a trial's parameter values, and the shape of one example (`()` for a text)
Params = Mapping[str, Any]
Shape = tuple[int, ...]

# what `optimizer()` reads: every family takes these
COMMON_PARAMS = frozenset({"optimizer", "learning_rate", "momentum", "weight_decay"})


def optimizer(params: Params) -> keras.optimizers.Optimizer:
    """The optimizer a trial searched (`optimizer`, `learning_rate`, ...), Adam by default."""
    import keras

    name = str(params.get("optimizer", "adam")).lower()
    lr = float(params.get("learning_rate", 1e-3))
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=float(params.get("momentum", 0.0)))
    if name == "adamw":
        return keras.optimizers.AdamW(
            learning_rate=lr, weight_decay=float(params.get("weight_decay", 0.004))
        )
    classes = {
        "adam": keras.optimizers.Adam,
        "rmsprop": keras.optimizers.RMSprop,
        "nadam": keras.optimizers.Nadam,
        "adagrad": keras.optimizers.Adagrad,
    }
    if name not in classes:
        raise ValueError(f"unknown optimizer {name!r} (known: {', '.join(OPTIMIZERS)})")
    return classes[name](learning_rate=lr)


def regularizer(kind: str | None, strength: float) -> keras.regularizers.Regularizer | None:
    """`none` or a zero strength means no regularizer (so a search can switch it off)."""
    import keras

    if kind in (None, "none") or strength <= 0:
        return None
    if kind == "l1":
        return keras.regularizers.L1(strength)
    if kind == "l2":
        return keras.regularizers.L2(strength)
    if kind == "l1_l2":
        return keras.regularizers.L1L2(l1=strength, l2=strength)
    raise ValueError(f"unknown kernel_regularizer {kind!r} (known: none, l1, l2, l1_l2)")


def compile_classifier(model: keras.Model, params: Params) -> keras.Model:
    """Compile for integer labels; `steps_per_execution` cuts per-batch Python overhead."""
    model.compile(
        optimizer=optimizer(params),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=int(params.get("steps_per_execution", 16)),
    )
    return model
