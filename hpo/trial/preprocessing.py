"""The model takes raw features: the train split's scaling becomes its first layer.

Every family, `python:` builders included, builds its model for scaled features as before;
`with_input_scaling` puts a `keras.layers.Normalization` holding the train split's offset
and scale in front of it (raw input -> Normalization -> the built model) and compiles the
result as the builder compiled its model. `minmax` is the same layer with mean = min and
variance = (max - min)^2. Saved, served and exported models therefore take raw rows.
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
    """A Normalization layer with fixed, per-feature statistics (never adapted)."""
    import keras

    ndim = scaling.offset.ndim
    axis: int | tuple[int, ...] = -1 if ndim == 1 else tuple(range(1, ndim + 1))
    return keras.layers.Normalization(
        axis=axis,
        mean=scaling.offset.astype(np.float32),
        variance=scaling.variance.astype(np.float32),
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
