"""CNN family: Conv2D blocks with pooling, then Flatten (or global pooling) and a Dense head.

Sequential: a plain stack is all a small image classifier needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hpo.config.space import per_layer
from hpo.models import augment
from hpo.models.checks import ModelInputError, as_options, check_choice, check_common, not_text
from hpo.models.common import COMMON_PARAMS, Params, Shape, compile_classifier
from hpo.models.image_input import front

if TYPE_CHECKING:
    from keras import Model

    from hpo.models.checks import Options

PARAMS = (
    COMMON_PARAMS
    | augment.PARAMS
    | {
        "n_conv",
        "filters",
        "filters_*",
        "kernel_size",
        "kernel_size_*",
        "pooling",
        "conv_batch_norm",
        "conv_dropout",
        "head",
        "dense_units",
        "dropout",
        "activation",
    }
)
POOLING_2D = ("max", "average")
HEADS = ("flatten", "global_average", "global_max")


def check(options: Options, input_shape: Shape, is_text: bool) -> None:
    not_text("cnn", is_text)
    if len(input_shape) not in (2, 3):
        raise ModelInputError(
            "the cnn builder needs image input (height, width[, channels]), got input shape "
            f"{input_shape}; use data.source digits_images or an npz of images",
            field="model.builder",
        )
    check_common(options)
    check_choice(options, "pooling", POOLING_2D)
    check_choice(options, "head", HEADS)
    augment.check(options)


def build(params: Params, input_shape: Shape, n_classes: int, *, x_train: Any = None) -> Model:
    """`n_conv` blocks of Conv2D (+ batch norm) + activation + pooling (+ dropout).

    Pooling is skipped once the feature map is down to 1 pixel, so deep stacks on small
    images (8x8 digits) still build. Grey (height, width) images get a channel axis.
    """
    import keras

    check(as_options(params), tuple(input_shape), False)
    activation = str(params.get("activation", "relu"))
    pool_cls = (
        keras.layers.AveragePooling2D
        if params.get("pooling", "max") == "average"
        else keras.layers.MaxPooling2D
    )
    defaults = {"filters": 32, "n_conv": 2, "kernel_size": 3, **params}
    filters = per_layer(defaults, "filters", count="n_conv")
    kernels = per_layer(defaults, "kernel_size", count="n_conv")
    conv_dropout = float(params.get("conv_dropout", 0.0))

    model = keras.Sequential(name="cnn")
    inputs, raw_image_layers = front(params, input_shape, x_train)
    model.add(inputs)
    for layer in raw_image_layers:  # image folders: resize, augment, rescale raw pixels
        model.add(layer)
    if len(input_shape) == 2:
        model.add(keras.layers.Reshape((*input_shape, 1)))
    for layer in [] if raw_image_layers else augment.layers(params, raw_pixels=False):
        model.add(layer)
    for n_filters, kernel in zip(filters, kernels, strict=True):
        model.add(keras.layers.Conv2D(int(n_filters), int(kernel), padding="same"))
        if params.get("conv_batch_norm", False):
            model.add(keras.layers.BatchNormalization())
        model.add(keras.layers.Activation(activation))
        if model.output_shape[1] >= 2 and model.output_shape[2] >= 2:
            model.add(pool_cls(pool_size=2))
        if conv_dropout > 0:
            model.add(keras.layers.Dropout(conv_dropout))
    head = params.get("head", "flatten")
    if head == "global_average":
        model.add(keras.layers.GlobalAveragePooling2D())
    elif head == "global_max":
        model.add(keras.layers.GlobalMaxPooling2D())
    else:
        model.add(keras.layers.Flatten())
    model.add(keras.layers.Dense(int(params.get("dense_units", 64)), activation=activation))
    if float(params.get("dropout", 0.0)) > 0:
        model.add(keras.layers.Dropout(float(params["dropout"])))
    model.add(keras.layers.Dense(n_classes, activation="softmax"))
    return compile_classifier(model, params)
