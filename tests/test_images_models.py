"""Image models: raw pixels in (resize + rescale inside), augmentation only while training,
and the tf.data batches training streams."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from hpo.config.data_config import DataConfig
from hpo.data.dataset import Dataset, load_dataset
from hpo.data.make_images import make_images

AUGMENT = {
    "augment_flip": "both",
    "augment_rotation": 0.2,
    "augment_zoom": 0.2,
    "augment_contrast": 0.5,
}
SMALL_CNN = {"n_conv": 1, "filters": 4, "dense_units": 8}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    folder = make_images(tmp_path_factory.mktemp("images") / "png", count=60, size=16, classes=3)
    return load_dataset(DataConfig(source="image_folder", path=str(folder), image_size=(16, 16)), 0)


def _build(family: str, params: dict[str, Any], data: Dataset) -> Any:
    import keras

    from hpo.models import get_builder

    keras.utils.set_random_seed(0)
    return get_builder(family)(params, data.input_shape, data.n_classes, x_train=data.x_train)


def _copy_weights(source: Any, target: Any) -> None:
    """Weights layer by layer (augmentation layers hold only their random state)."""
    weighted = [layer for layer in source.layers if layer.trainable_weights]
    others = [layer for layer in target.layers if layer.trainable_weights]
    assert len(weighted) == len(others)
    for a, b in zip(weighted, others, strict=True):
        b.set_weights(a.get_weights())


def test_augmentation_is_in_the_model_and_inactive_at_inference(data: Dataset) -> None:
    import keras

    augmented = _build("cnn", {**SMALL_CNN, **AUGMENT}, data)
    names = {layer.name for layer in augmented.layers}
    assert {"augment_flip", "augment_rotation", "augment_zoom", "augment_contrast"} <= names
    assert augmented.get_layer("augment_flip").mode == "horizontal_and_vertical"
    assert augmented.get_layer("augment_rotation").factor == (-0.2, 0.2)
    plain = _build("cnn", SMALL_CNN, data)
    assert not any(layer.name.startswith("augment_") for layer in plain.layers)
    _copy_weights(augmented, plain)

    x = data.x_val[:8].astype(np.float32)
    first = augmented(x, training=False).numpy()
    assert np.array_equal(first, augmented(x, training=False).numpy())
    np.testing.assert_allclose(first, plain(x, training=False).numpy(), rtol=1e-5, atol=1e-6)
    # the same layers do change the images while training (so the test above can fail)
    flip = augmented.get_layer("augment_flip")
    assert not np.allclose(flip(x, training=True), x)
    keras.backend.clear_session()


def test_transfer_takes_the_augmentation_layers_too(data: Dataset) -> None:
    params = {"base": "mobilenet_v2", "alpha": 0.35, "dense_units": 8, "augment_zoom": 0.1}
    model = _build("transfer", params, data)
    names = [layer.name for layer in model.layers]
    assert names.index("resize_raw") < names.index("augment_zoom") < names.index("rescale_raw")


def test_served_model_takes_raw_pixels_of_any_size(data: Dataset) -> None:
    import tensorflow as tf

    model = _build("cnn", SMALL_CNN, data)
    assert model.input_shape == (None, None, None, 3)
    assert [layer.name for layer in model.layers[:2]] == ["resize_raw", "rescale_raw"]
    raw = data.x_val[:4].astype(np.float32)  # 0-255, as read from the files
    bigger = tf.image.resize(raw, (32, 32), method="nearest").numpy()
    np.testing.assert_allclose(model(raw).numpy(), model(bigger).numpy(), atol=1e-5)
    scaled = model(raw / 255.0).numpy()  # pre-scaled pixels are not what it expects
    assert not np.allclose(scaled, model(raw).numpy(), atol=1e-4)


def test_augment_values_outside_their_range_are_refused() -> None:
    from hpo.models import augment
    from hpo.models.checks import ModelInputError

    augment.check({"augment_flip": ["none", "vertical"], "augment_zoom": [0.0, 0.9]})
    with pytest.raises(ModelInputError, match="augment_flip 'diagonal' is not one of"):
        augment.check({"augment_flip": ["diagonal"]})
    with pytest.raises(
        ModelInputError, match=r"augment_rotation 2 must be a number from 0 to 0\.5"
    ):
        augment.check({"augment_rotation": [2]})


@pytest.mark.parametrize("cache", [True, False])
def test_streamed_batches_are_the_files_pixels_and_labels(data: Dataset, cache: bool) -> None:
    from hpo.trial.streaming import image_batches

    x_val = data.x_val
    batches = list(image_batches(x_val, data.y_val, 5, cache=cache))  # type: ignore[arg-type]
    pixels = np.concatenate([b[0].numpy() for b in batches])
    labels = np.concatenate([b[1].numpy() for b in batches])
    assert [len(b[1]) for b in batches] == [5, 5, 2]
    assert np.array_equal(pixels, np.asarray(x_val)) and np.array_equal(labels, data.y_val)
    shuffled = image_batches(x_val, data.y_val, 12, shuffle_seed=1, cache=cache)  # type: ignore[arg-type]
    epoch1, epoch2 = (next(iter(shuffled))[1].numpy() for _ in range(2))
    assert sorted(epoch1) == sorted(data.y_val) and not np.array_equal(epoch1, data.y_val)
    assert not np.array_equal(epoch1, epoch2)  # a new order every epoch


def test_the_trained_model_is_saved_without_augmentation(data: Dataset) -> None:
    from hpo.models.augment import without_augmentation

    augmented = _build("cnn", {**SMALL_CNN, **AUGMENT}, data)
    inference = without_augmentation(augmented)
    replaced = {type(layer).__name__ for layer in inference.layers if "augment_" in layer.name}
    assert replaced == {"Identity"}
    x = data.x_val[:8].astype(np.float32)
    # a call with no `training` argument (how SavedModel and ONNX exports trace a model)
    np.testing.assert_allclose(inference(x).numpy(), augmented(x, training=False).numpy())
    assert not np.allclose(augmented(x).numpy(), augmented(x, training=False).numpy())
    convs = [
        [la for la in m.layers if type(la).__name__ == "Conv2D"] for m in (inference, augmented)
    ]
    assert convs[0][0] is convs[1][0]  # the trained layers themselves, not copies
