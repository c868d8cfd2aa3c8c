"""Transfer family: a keras.applications base + GlobalAveragePooling2D + a Dense head.

Functional construction: the base is called as a layer on a resized, channel-tiled input
so small grey images (8x8 digits) reach the size and 3 channels every base needs. The
base is frozen; `fine_tune_layers` unfreezes its top N layers, which then learn at
`learning_rate * fine_tune_lr_factor` (the usual recipe: pretrained features move slowly
while the new head learns fast). Nothing is ever downloaded: `weights` is null, a local
file, or "imagenet" only when the file is already in the Keras cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from hpo.models.checks import BASES, check_weights
from hpo.models.common import check_family, compile_classifier

# Caffe-style bases (VGG16, ResNet50) expect BGR pixels in 0..255 minus the ImageNet mean
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def _pretrained_preprocessing(base: str, x: Any) -> Any:
    """What each base's `preprocess_input` does, as plain serializable layers.

    Inputs are assumed in [0, 1] (`data.scaling: minmax`, checked in preflight)."""
    x = keras.layers.Rescaling(255.0, name="to_0_255")(x)
    if base == "mobilenet_v2":
        return keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="to_minus1_1")(x)
    if base in ("vgg16", "resnet50"):
        # RGB -> BGR and mean subtraction as a fixed 1x1 convolution
        swap = keras.layers.Conv2D(3, 1, trainable=False, name="rgb_to_bgr_centered")
        swap.build((None, None, None, 3))
        kernel = np.array([[[[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]]], "float32")
        swap.set_weights([kernel, -np.array(_CAFFE_MEAN_BGR, "float32")])
        return swap(x)
    return x  # EfficientNet normalizes inside the model


def _scale_learning_rate(
    optimizer: keras.optimizers.Optimizer, paths: set[str], factor: float
) -> None:
    """Make the optimizer step the variables in `paths` with learning_rate * factor.

    Done on the instance (not a subclass) so the saved model still holds a plain Keras
    optimizer and loads anywhere without hpo installed.
    """
    update_step = optimizer.update_step

    def scaled_update_step(gradient: Any, variable: Any, learning_rate: Any) -> Any:
        path = getattr(variable, "path", None) or str(variable.name).split(":")[0]
        if path in paths:
            learning_rate = learning_rate * factor
        return update_step(gradient, variable, learning_rate)

    optimizer.update_step = scaled_update_step


def build(
    params: Mapping[str, Any],
    input_shape: tuple[int, ...],
    n_classes: int,
) -> keras.Model:
    """`base` (vgg16 | resnet50 | mobilenet_v2 | efficientnet_b0) with include_top=False.

    With pretrained weights, pixels must be in [0, 1] (`data.scaling: minmax`)."""
    check_family("transfer", params, input_shape)
    base_name = str(params.get("base", "mobilenet_v2"))
    alpha = float(params.get("alpha", 1.0))
    size = int(params.get("image_size", max(32, input_shape[0], input_shape[1])))
    weights = check_weights(params.get("weights"), base_name, alpha, size)
    fine_tune = int(params.get("fine_tune_layers", 0))
    activation = str(params.get("activation", "relu"))

    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    if len(input_shape) == 2:
        x = keras.layers.Reshape((*input_shape, 1), name="add_channel")(x)
    if tuple(input_shape[:2]) != (size, size):
        x = keras.layers.Resizing(size, size, name="resize")(x)
    if len(input_shape) == 2 or input_shape[2] == 1:
        x = keras.layers.Concatenate(name="grey_to_rgb")([x, x, x])
    if weights is not None:
        x = _pretrained_preprocessing(base_name, x)

    application = getattr(keras.applications, BASES[base_name][0])
    kwargs: dict[str, Any] = {"alpha": alpha} if base_name == "mobilenet_v2" else {}
    base = application(include_top=False, weights=weights, input_shape=(size, size, 3), **kwargs)
    base.trainable = fine_tune > 0
    if 0 < fine_tune < len(base.layers):
        for layer in base.layers[:-fine_tune]:
            layer.trainable = False
    # pretrained batch-norm statistics stay in inference mode (the Keras fine-tuning
    # guide); a base trained from scratch (weights null) uses batch statistics
    x = base(x, training=False) if weights is not None else base(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dense(int(params.get("dense_units", 128)), activation=activation, name="head")(
        x
    )
    if float(params.get("dropout", 0.0)) > 0:
        x = keras.layers.Dropout(float(params["dropout"]), name="head_dropout")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="classes")(x)
    model = keras.Model(inputs, outputs, name=f"transfer_{base_name}")
    compile_classifier(model, params)

    factor = float(params.get("fine_tune_lr_factor", 0.1))
    if fine_tune > 0 and factor != 1.0:
        paths = {v.path for v in base.trainable_variables}
        _scale_learning_rate(model.optimizer, paths, factor)
    return model
