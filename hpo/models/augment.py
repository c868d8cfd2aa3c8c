"""Augmentation as searchable parameters of the image families (`cnn`, `transfer`).

Keras preprocessing layers inside the model: they transform images only while training
(`training=True` in `fit`) and pass them through unchanged at inference, so the saved,
served and exported model needs nothing extra. Zero / `none` leaves a layer out, so a search
can switch augmentation off. Contrast works on raw pixels (0-255) for image folders, where
the layers run before the model's own rescaling, and on [0, 1] pixels otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hpo.models.checks import ModelInputError, Options, check_choice

if TYPE_CHECKING:
    import keras

PARAMS = frozenset({"augment_flip", "augment_rotation", "augment_zoom", "augment_contrast"})
FLIPS = {
    "none": None,
    "horizontal": "horizontal",
    "vertical": "vertical",
    "both": "horizontal_and_vertical",
}
# the largest factor each takes: rotation in fractions of a full turn, zoom and contrast
# as fractions of the image
LIMITS = {"augment_rotation": 0.5, "augment_zoom": 0.9, "augment_contrast": 0.9}


def check(options: Options) -> None:
    """Keras-free checks of every value the search space can give."""
    check_choice(options, "augment_flip", FLIPS)
    for name, high in LIMITS.items():
        for value in options.get(name, ()):
            if not isinstance(value, int | float) or not 0 <= float(value) <= high:
                raise ModelInputError(
                    f"{name} {value!r} must be a number from 0 to {high:g}",
                    field=f"search_space.{name}",
                )


def layers(params: Mapping[str, Any], raw_pixels: bool) -> list[keras.layers.Layer]:
    """The augmentation layers a trial's parameters ask for, in a fixed order (none when
    every augment_* is off or absent)."""
    import keras

    found: list[keras.layers.Layer] = []
    flip = FLIPS[str(params.get("augment_flip", "none"))]
    if flip is not None:
        found.append(keras.layers.RandomFlip(flip, name="augment_flip"))
    rotation = float(params.get("augment_rotation", 0.0))
    if rotation > 0:
        found.append(keras.layers.RandomRotation(rotation, name="augment_rotation"))
    zoom = float(params.get("augment_zoom", 0.0))
    if zoom > 0:
        found.append(keras.layers.RandomZoom(zoom, name="augment_zoom"))
    contrast = float(params.get("augment_contrast", 0.0))
    if contrast > 0:
        value_range = (0, 255) if raw_pixels else (0, 1)
        found.append(
            keras.layers.RandomContrast(contrast, value_range=value_range, name="augment_contrast")
        )
    return found


def is_augmentation(layer: Any) -> bool:
    return str(getattr(layer, "name", "")).startswith("augment_")


def without_augmentation(model: keras.Model) -> keras.Model:
    """The trained model with its augment_* layers replaced by `Identity` (the other layers,
    and so the weights, are shared): what is saved, served and exported.

    Keras 3 preprocessing layers default to `training=True` when a model is called with no
    `training` argument (a SavedModel or ONNX export traces `model.__call__` that way), so
    they would augment, or carry random ops ONNX cannot run, at inference. A model without
    augmentation layers is returned unchanged."""
    import keras

    if not any(is_augmentation(layer) for layer in model.layers):
        return model

    def keep_or_identity(layer: keras.layers.Layer) -> keras.layers.Layer:
        return keras.layers.Identity(name=layer.name) if is_augmentation(layer) else layer

    inference = keras.models.clone_model(model, clone_function=keep_or_identity)
    inference.compile(optimizer=model.optimizer, loss=model.loss, metrics=["accuracy"])
    return inference
