"""CNN family: Conv2D blocks with pooling, then Flatten (or global pooling) and a Dense head."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from hpo.models.common import compile_classifier
from hpo.space import per_layer


def build(params: Mapping[str, Any], input_shape: tuple[int, ...], n_classes: int) -> keras.Model:
    if len(input_shape) != 3:
        raise ValueError(
            f"the cnn builder needs image input (height, width, channels), got {input_shape}"
        )
    activation = str(params.get("activation", "relu"))
    kernel = int(params.get("kernel_size", 3))
    pool_cls = (
        keras.layers.AveragePooling2D
        if params.get("pooling", "max") == "average"
        else keras.layers.MaxPooling2D
    )
    filters = per_layer({"filters": 32, "n_conv": 2, **params}, "filters", count="n_conv")

    model = keras.Sequential(name="cnn")
    model.add(keras.Input(shape=input_shape))
    for n_filters in filters:
        model.add(keras.layers.Conv2D(int(n_filters), kernel, padding="same"))
        if params.get("conv_batch_norm", False):
            model.add(keras.layers.BatchNormalization())
        model.add(keras.layers.Activation(activation))
        if model.output_shape[1] >= 2 and model.output_shape[2] >= 2:
            model.add(pool_cls(pool_size=2))
    if params.get("head", "flatten") == "global_average":
        model.add(keras.layers.GlobalAveragePooling2D())
    else:
        model.add(keras.layers.Flatten())
    model.add(keras.layers.Dense(int(params.get("dense_units", 64)), activation=activation))
    if float(params.get("dropout", 0.0)) > 0:
        model.add(keras.layers.Dropout(float(params["dropout"])))
    model.add(keras.layers.Dense(n_classes, activation="softmax"))
    return compile_classifier(model, params)
