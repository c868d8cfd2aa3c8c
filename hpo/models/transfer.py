"""Transfer family: a keras.applications base + GlobalAveragePooling2D + a Dense head.

Functional construction: the base is called as a layer on a resized, channel-tiled input
so small grey images (8x8 digits) reach the size and 3 channels every base needs. The
base is frozen; `fine_tune_layers` unfreezes its top N layers, which then learn at
`learning_rate * fine_tune_lr_factor` (the usual recipe: pretrained features move slowly
while the new head learns fast). Nothing is ever downloaded: `weights` is null, a local
file, or "imagenet" only when the file is already in the Keras cache.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hpo.models import augment
from hpo.models.checks import ModelInputError, as_options, check_choice, check_common, not_text
from hpo.models.common import COMMON_PARAMS, Params, Shape, compile_classifier
from hpo.models.image_input import front

if TYPE_CHECKING:
    import keras
    from keras import Model

    from hpo.models.checks import Options

# transfer bases: name -> (keras.applications attribute, minimum image side, imagenet
# file in the Keras cache; MobileNetV2's depends on alpha and the input size)
BASES: dict[str, tuple[str, int, str]] = {
    "vgg16": ("VGG16", 32, "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "resnet50": ("ResNet50", 32, "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "mobilenet_v2": (
        "MobileNetV2",
        32,
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_{rows}_no_top.h5",
    ),
    "efficientnet_b0": ("EfficientNetB0", 32, "efficientnetb0_notop.h5"),
}
MOBILENET_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
MOBILENET_ROWS = (96, 128, 160, 192, 224)
PARAMS = (
    COMMON_PARAMS
    | augment.PARAMS
    | {
        "base",
        "weights",
        "alpha",
        "image_size",
        "fine_tune_layers",
        "fine_tune_lr_factor",
        "dense_units",
        "dropout",
        "activation",
    }
)


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded weights: $KERAS_HOME/models or ~/.keras/models."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def imagenet_file(base: str, alpha: float = 1.0, image_size: int = 224) -> Path:
    """The cached ImageNet weights file keras.applications would download for `base`."""
    template = BASES[base][2]
    rows = image_size if image_size in MOBILENET_ROWS else 224
    return keras_cache_dir() / template.format(alpha=float(alpha), rows=rows)


def check_weights(value: Any, base: str, alpha: float, image_size: int) -> str | None:
    """Resolve `weights` to None or a local file path; never lets Keras download."""
    if value is None or value in ("none", "null"):
        return None
    if value == "imagenet":
        if base == "mobilenet_v2" and float(alpha) not in MOBILENET_ALPHAS:
            raise ModelInputError(
                f"imagenet weights for mobilenet_v2 exist only for alpha in "
                f"{', '.join(map(str, MOBILENET_ALPHAS))} (got {alpha})",
                field="search_space.alpha",
            )
        path = imagenet_file(base, alpha, image_size)
        if not path.is_file():
            raise ModelInputError(
                f"imagenet weights for {base} are not in the local Keras cache and nothing is "
                f"downloaded at run time: put {path.name} in {path.parent}/ "
                "(or give weights: a local file path, or null)",
                field="search_space.weights",
            )
        return str(path)
    path = Path(str(value)).expanduser()
    if not path.is_file():
        raise ModelInputError(
            f"weights file {str(value)!r} not found (looked in {path.resolve().parent}/); "
            "give an existing .h5/.weights.h5 file, 'imagenet' (from the Keras cache) or null",
            field="search_space.weights",
        )
    return str(path.resolve())


def check(options: Options, input_shape: Shape, is_text: bool) -> None:
    not_text("transfer", is_text)
    if len(input_shape) not in (2, 3) or (len(input_shape) == 3 and input_shape[2] not in (1, 3)):
        raise ModelInputError(
            f"a transfer base cannot take input shape {input_shape}: it needs images "
            "(height, width) or (height, width, 1 or 3 channels); use data.source "
            "digits_images or an npz of images",
            field="model.builder",
        )
    check_common(options)
    augment.check(options)
    bases = list(options.get("base", ["mobilenet_v2"]))
    check_choice({"base": bases}, "base", BASES)
    sizes = [int(s) for s in options.get("image_size", [max(32, *input_shape[:2])])]
    for base in bases:
        min_side = BASES[base][1]
        for size in sizes:
            if size < min_side:
                raise ModelInputError(
                    f"base {base} needs images of at least {min_side}x{min_side}; "
                    f"image_size {size} is too small",
                    field="search_space.image_size",
                )
    for value in options.get("weights", [None]):
        for base in bases:
            alphas = options.get("alpha", [1.0]) if base == "mobilenet_v2" else [1.0]
            for alpha in alphas:
                for size in sizes:
                    check_weights(value, base, float(alpha), size)


# Caffe-style bases (VGG16, ResNet50) expect BGR pixels in 0..255 minus the ImageNet mean
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def _pretrained_preprocessing(base: str, x: Any) -> Any:
    """What each base's `preprocess_input` does, as plain serializable layers.

    Inputs are assumed in [0, 1] (`data.scaling: minmax`, checked in preflight)."""
    import keras

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


def build(params: Params, input_shape: Shape, n_classes: int, *, x_train: Any = None) -> Model:
    """`base` (vgg16 | resnet50 | mobilenet_v2 | efficientnet_b0) with include_top=False.

    With pretrained weights, pixels must be in [0, 1] (`data.scaling: minmax`)."""
    import keras

    check(as_options(params), tuple(input_shape), False)
    base_name = str(params.get("base", "mobilenet_v2"))
    alpha = float(params.get("alpha", 1.0))
    size = int(params.get("image_size", max(32, input_shape[0], input_shape[1])))
    weights = check_weights(params.get("weights"), base_name, alpha, size)
    fine_tune = int(params.get("fine_tune_layers", 0))
    activation = str(params.get("activation", "relu"))

    inputs, raw_image_layers = front(params, input_shape, x_train, name="image")
    x = inputs
    for layer in raw_image_layers:  # image folders: resize, augment, rescale raw pixels
        x = layer(x)
    if len(input_shape) == 2:
        x = keras.layers.Reshape((*input_shape, 1), name="add_channel")(x)
    for layer in [] if raw_image_layers else augment.layers(params, raw_pixels=False):
        x = layer(x)
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
