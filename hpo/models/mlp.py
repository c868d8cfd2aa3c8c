"""MLP family: Dense stacks with activation, dropout, batch norm, regularizers, initializers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from hpo.config.space import per_layer
from hpo.models.common import compile_classifier, regularizer


def build(params: Mapping[str, Any], input_shape: tuple[int, ...], n_classes: int) -> keras.Model:
    """Sequential Dense stack; `batch_norm` is none | before | after (the activation)."""
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
