"""Keras-free checks of a family's parameter values against the data, run twice.

Why both places: preflight runs them over every value a search space can produce, so a
base that cannot take the images, an unknown cell type or a missing weights file exits 2
before anything is written (and without importing keras); the builders run the same
checks on the concrete values of one trial, so calling a builder directly fails with the
same clear message.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "nadam", "adagrad")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "gelu", "swish", "silu", "softplus")
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
POOLING_2D = ("max", "average")
CNN_HEADS = ("flatten", "global_average", "global_max")
CELLS = ("lstm", "gru")
ATTENTIONS = ("dot", "additive", "multihead")
SEQUENCE_POOLING = ("average", "max")
ENCODERS = ("none", "lstm", "gru")

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

Options = Mapping[str, Sequence[Any]]


class ModelInputError(ValueError):
    """A parameter value or data shape the family cannot use; `field` names the culprit."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def _check_choice(options: Options, name: str, allowed: Iterable[Any]) -> None:
    allowed = tuple(allowed)
    for value in options.get(name, ()):
        if value not in allowed:
            raise ModelInputError(
                f"{name} {value!r} is not one of {', '.join(map(str, allowed))}",
                field=f"search_space.{name}",
            )


def _check_common(options: Options) -> None:
    for value in options.get("optimizer", ()):
        if str(value).lower() not in OPTIMIZERS:
            raise ModelInputError(
                f"unknown optimizer {value!r} (known: {', '.join(OPTIMIZERS)})",
                field="search_space.optimizer",
            )
    _check_choice(options, "activation", ACTIVATIONS)


def _not_text(family: str, is_text: bool) -> None:
    if is_text:
        raise ModelInputError(
            f"the {family} builder takes numeric features, but the data is text; "
            "use the rnn or attention builder",
            field="model.builder",
        )


def check_mlp(options: Options, input_shape: tuple[int, ...], is_text: bool) -> None:
    _not_text("mlp", is_text)
    _check_common(options)
    _check_choice(options, "kernel_initializer", INITIALIZERS)
    _check_choice(options, "kernel_regularizer", REGULARIZERS)
    _check_choice(options, "batch_norm", BATCH_NORM)


def check_cnn(options: Options, input_shape: tuple[int, ...], is_text: bool) -> None:
    _not_text("cnn", is_text)
    if len(input_shape) not in (2, 3):
        raise ModelInputError(
            "the cnn builder needs image input (height, width[, channels]), got input shape "
            f"{input_shape}; use data.source digits_images or an npz of images",
            field="model.builder",
        )
    _check_common(options)
    _check_choice(options, "pooling", POOLING_2D)
    _check_choice(options, "head", CNN_HEADS)


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


def check_transfer(options: Options, input_shape: tuple[int, ...], is_text: bool) -> None:
    _not_text("transfer", is_text)
    if len(input_shape) not in (2, 3) or (len(input_shape) == 3 and input_shape[2] not in (1, 3)):
        raise ModelInputError(
            f"a transfer base cannot take input shape {input_shape}: it needs images "
            "(height, width) or (height, width, 1 or 3 channels); use data.source "
            "digits_images or an npz of images",
            field="model.builder",
        )
    _check_common(options)
    bases = list(options.get("base", ["mobilenet_v2"]))
    _check_choice({"base": bases}, "base", BASES)
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


def check_sequence(options: Options, input_shape: tuple[int, ...], is_text: bool) -> None:
    if not is_text and len(input_shape) not in (0, 1, 2):  # () is text
        raise ModelInputError(
            f"sequence models take text or sequences (steps,) / (steps, features); got input "
            f"shape {input_shape}",
            field="model.builder",
        )
    _check_common(options)
    _check_choice(options, "cell", CELLS)
    _check_choice(options, "encoder", ENCODERS)
    _check_choice(options, "attention", ATTENTIONS)
    _check_choice(options, "pooling", SEQUENCE_POOLING)
    for name in ("sequence_length", "max_tokens"):
        for value in options.get(name, ()):
            if int(value) < 2:
                raise ModelInputError(f"{name} must be >= 2 (got {value})", field=name)


CHECKS: dict[str, Callable[[Options, tuple[int, ...], bool], None]] = {
    "mlp": check_mlp,
    "cnn": check_cnn,
    "transfer": check_transfer,
    "rnn": check_sequence,
    "attention": check_sequence,
}


def as_options(params: Mapping[str, Any]) -> dict[str, list[Any]]:
    """One trial's parameters in the shape the checks take (every name -> its values)."""
    return {name: [value] for name, value in params.items()}
