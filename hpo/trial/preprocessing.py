"""The model takes raw features: the train split's scaling becomes its first layer.

Every family, `python:` builders included, builds its model for scaled features as before;
`with_input_scaling` puts a layer holding the train split's per-feature statistics in front
of it (raw input -> scaling -> the built model) and compiles the result as the builder
compiled its model: `standard` is (x - mean) / std, `minmax` (x - min) / (max - min), both
scikit-learn's arithmetic. Saved, served and exported models therefore take raw rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hpo.data.scaling import InputScaling

if TYPE_CHECKING:
    import keras

    from hpo.data.dataset import Dataset

LAYER_NAME = "input_scaling"


def scaling_layer(scaling: InputScaling) -> keras.layers.Layer:
    """`(x - offset) / scale` as `x * (1 / scale) + (-offset / scale)`: a Rescaling layer
    with per-feature arrays. Its numbers are constants of the graph, not captured tensors
    (a Normalization layer's are, and the ONNX export then asks for them as inputs)."""
    import keras

    return keras.layers.Rescaling(
        scale=(1.0 / scaling.scale).astype(np.float32),
        offset=(-scaling.offset / scaling.scale).astype(np.float32),
        name=LAYER_NAME,
    )


def with_input_scaling(model: keras.Model, scaling: InputScaling | None) -> keras.Model:
    """`model` behind the scaling layer, compiled like `model` (same optimizer object, loss
    and metrics); `model` itself when there is nothing to scale (text, `scaling: none`)."""
    if scaling is None:
        return model
    import keras

    inputs = keras.Input(shape=scaling.offset.shape, name="raw_features")
    wrapped = keras.Model(inputs, model(scaling_layer(scaling)(inputs)), name=model.name)
    compiled = getattr(model, "_compile_config", None)  # the builder's own compile() arguments
    if getattr(model, "compiled", False) and compiled is not None:
        compile_args: dict[str, Any] = dict(compiled.config)
        wrapped.compile(**compile_args)
    return wrapped


def builder_x_train(dataset: Dataset) -> np.ndarray:
    """The train rows as the built model sees them (behind the scaling layer): what a
    builder taking `x_train` fits its own preprocessing on."""
    return dataset.x_train if dataset.scaling is None else dataset.scaling.apply(dataset.x_train)


def with_normalization_layer(model: keras.Model) -> keras.Model:
    """The same model with its scaling as a `Normalization` layer (same numbers), for the
    int8 TFLite conversion: the converter folds a Rescaling's multiply into the first
    layer's weights, leaving nothing to keep in float; Normalization's subtract and
    multiply stay separate ops (its statistics are captured tensors, which is also why
    the saved model does not use it: the ONNX export would ask for them as inputs)."""
    import keras

    layer = model.get_layer(LAYER_NAME)
    scale = 1.0 / np.asarray(layer.scale, dtype=np.float64)
    offset = -np.asarray(layer.offset, dtype=np.float64) * scale
    ndim = scale.ndim
    axis: int | tuple[int, ...] = -1 if ndim == 1 else tuple(range(1, ndim + 1))
    normalize = keras.layers.Normalization(
        axis=axis, mean=offset.astype(np.float32), variance=np.square(scale).astype(np.float32)
    )
    inputs = keras.Input(shape=scale.shape, name="raw_features")
    built = model.layers[-1]  # raw input -> scaling -> the built model (with_input_scaling)
    return keras.Model(inputs, built(normalize(inputs)), name=model.name)


def has_input_scaling(model: keras.Model) -> bool:
    """Whether the model scales raw rows itself (False: text, `scaling: none`, or a model
    logged before raw input, which expects scaled rows)."""
    return any(layer.name == LAYER_NAME for layer in model.layers)


def built_params(model: keras.Model) -> int:
    """The parameter count of the built model, without the scaling layer's statistics (so
    `n_params` means what it meant before the layer was added)."""
    layers = {layer.name: layer for layer in model.layers}
    extra = layers[LAYER_NAME].count_params() if LAYER_NAME in layers else 0
    return int(model.count_params()) - int(extra)
