"""The front of an image model: what lets a served model take raw pixel values.

For an image-folder dataset (`x_train` is hpo.data.images' lazy `ImageArray`, recognised
by its `image_size`) the model's input is raw pixels (0-255) of any height and width:
`Resizing` to the dataset's `image_size` and `Rescaling` to [0, 1] are layers of the model,
and augmentation runs between them (on raw pixels). Other image arrays keep the input shape
and values they were given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hpo.models import augment

if TYPE_CHECKING:
    import keras


def raw_image_spec(x_train: Any) -> tuple[int, int, int] | None:
    """(height, width, channels) when `x_train` is an image folder's files, else None."""
    size = getattr(x_train, "image_size", None)
    if size is None:
        return None
    return int(size[0]), int(size[1]), int(x_train.shape[-1])


def front(
    params: Mapping[str, Any], input_shape: tuple[int, ...], x_train: Any, name: str | None = None
) -> tuple[keras.KerasTensor, list[keras.layers.Layer]]:
    """The model input and the layers to apply first: resize + augment + rescale for an
    image folder; augment only for arrays (placed after any channel reshape by the
    caller, so `grey` 2-D arrays are augmented as images)."""
    import keras

    spec = raw_image_spec(x_train)
    if spec is None:
        return keras.Input(shape=input_shape, name=name), []
    height, width, channels = spec
    inputs = keras.Input(shape=(None, None, channels), name=name)
    return inputs, [
        keras.layers.Resizing(height, width, name="resize_raw"),
        *augment.layers(params, raw_pixels=True),
        keras.layers.Rescaling(1 / 255, name="rescale_raw"),
    ]
