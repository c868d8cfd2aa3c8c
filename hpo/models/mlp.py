"""MLP family: Dense stacks with activation, dropout, batch norm, regularizers, initializers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hpo.config.space import per_layer
from hpo.models.checks import Options, check_choice, check_common, not_text
from hpo.models.common import COMMON_PARAMS, Params, Shape, compile_classifier, regularizer

if TYPE_CHECKING:
    from keras import Model

PARAMS = COMMON_PARAMS | {
    "n_layers",
    "units",
    "units_*",
    "dropout",
    "dropout_*",
    "activation",
    "batch_norm",
    "kernel_regularizer",
    "regularization",
    "kernel_initializer",
}
INITIALIZERS = (
    "glorot_uniform",
    "glorot_normal",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "lecun_uniform",
    "random_normal",
    "random_uniform",
    "truncated_normal",
    "orthogonal",
)
REGULARIZERS = ("none", "l1", "l2", "l1_l2")
BATCH_NORM = ("none", "before", "after")


def check(options: Options, input_shape: Shape, is_text: bool) -> None:
    not_text("mlp", is_text)
    check_common(options)
    check_choice(options, "kernel_initializer", INITIALIZERS)
    check_choice(options, "kernel_regularizer", REGULARIZERS)
    check_choice(options, "batch_norm", BATCH_NORM)


def build(params: Params, input_shape: Shape, n_classes: int) -> Model:
    """Sequential Dense stack; `batch_norm` is none | before | after (the activation)."""
    import keras

    activation = str(params.get("activation", "relu"))
    batch_norm = str(params.get("batch_norm", "none"))
    initializer = str(params.get("kernel_initializer", "glorot_uniform"))
    reg_kind = params.get("kernel_regularizer", "none")
    reg_strength = float(params.get("regularization", 0.0))
    units = per_layer({"units": 64, **params}, "units")
    dropouts = per_layer({"dropout": 0.0, **params}, "dropout")

    model = keras.Sequential(name="mlp")
    model.add(keras.Input(shape=input_shape))
    if len(input_shape) > 1:
        model.add(keras.layers.Flatten())
    for width, rate in zip(units, dropouts, strict=True):
        model.add(
            keras.layers.Dense(
                int(width),
                kernel_initializer=initializer,
                kernel_regularizer=regularizer(reg_kind, reg_strength),
                use_bias=batch_norm != "before",  # BN right after Dense makes the bias redundant
            )
        )
        if batch_norm == "before":
            model.add(keras.layers.BatchNormalization())
        model.add(keras.layers.Activation(activation))
        if batch_norm == "after":
            model.add(keras.layers.BatchNormalization())
        if float(rate) > 0:
            model.add(keras.layers.Dropout(float(rate)))
    model.add(keras.layers.Dense(n_classes, activation="softmax"))
    return compile_classifier(model, params)
