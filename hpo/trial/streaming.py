"""Training on image files with tf.data: decode, batch, cache when it fits, prefetch.

Why: an image folder's training split is never loaded as one array, so a trial's memory does
not grow with the number of images. File paths are shuffled (cheap) each epoch, batched,
and decoded a batch per Python call by the same Pillow reader every other reader uses
(hpo/data/images.py, so training sees exactly the pixels validation, promotion and export
see; a call per image cost more than the decode itself), then prefetched. When
the decoded split fits `HPO_IMAGE_CACHE_MB` (default 256 MB) it is cached in memory after the
first epoch and shuffled there; otherwise every epoch decodes again and memory stays flat.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hpo.data.images import ImageArray, cache_limit_bytes, read_image

if TYPE_CHECKING:
    import tensorflow as tf

    from hpo.data.dataset import Dataset


def is_streamed(dataset: Dataset) -> bool:
    """True for an image-folder dataset (its splits are files, not arrays)."""
    return isinstance(dataset.x_train, ImageArray)


def image_batches(
    images: ImageArray,
    labels: np.ndarray,
    batch_size: int,
    *,
    shuffle_seed: int | None = None,
    cache: bool | None = None,
) -> tf.data.Dataset:
    """(pixels, label) batches of raw uint8 pixels; shuffled each epoch when a seed is given.
    `cache` None: in memory when the decoded split fits the cache limit."""
    import tensorflow as tf

    size, channels = images.image_size, images.channels
    if cache is None:
        cache = images.nbytes <= cache_limit_bytes()

    def decode(paths: Any) -> np.ndarray:
        """A batch of files (a 1-D array of byte strings) as one uint8 array."""
        out = np.empty((len(paths), *size, channels), dtype=np.uint8)
        for i, path in enumerate(paths):
            out[i] = read_image(path.decode("utf-8"), size, channels)
        return out

    def load(paths: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        pixels = tf.numpy_function(decode, [paths], tf.uint8, stateful=False)
        pixels.set_shape((None, *size, channels))
        return pixels, labels

    data = tf.data.Dataset.from_tensor_slices((images.paths(), labels.astype(np.int64)))
    shuffle = shuffle_seed is not None
    if cache:  # decoded once, in file order; later epochs shuffle the decoded images
        data = data.batch(batch_size).map(load, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
        # unbatch() forgets the length; Keras needs it to count an epoch's steps
        data = data.apply(tf.data.experimental.assert_cardinality(len(images))).cache()
        if shuffle:
            data = data.shuffle(len(images), seed=shuffle_seed, reshuffle_each_iteration=True)
        return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    if shuffle:  # shuffle paths before decoding: the buffer holds strings
        data = data.shuffle(len(images), seed=shuffle_seed, reshuffle_each_iteration=True)
    # one Python call decodes a whole batch (a call per image cost more than the decode)
    data = data.batch(batch_size).map(load, num_parallel_calls=tf.data.AUTOTUNE)
    return data.prefetch(tf.data.AUTOTUNE)


def fit_streaming(
    model: Any,
    dataset: Dataset,
    *,
    epochs: int,
    batch_size: int,
    callbacks: list[Any],
    seed: int,
    class_weight: dict[int, float] | None = None,
) -> Any:
    """`model.fit` on the training files: the same arguments the in-memory fit takes, with a
    tf.data dataset in place of arrays. Validation is the pipeline's callback (one inference
    pass per epoch over the validation files, hpo/trial/validation.py), as for arrays."""
    x_train = dataset.x_train
    assert isinstance(x_train, ImageArray)
    train = image_batches(x_train, dataset.y_train, batch_size, shuffle_seed=seed)
    return model.fit(
        train,
        epochs=epochs,
        class_weight=class_weight,
        callbacks=callbacks,
        verbose=0,
        shuffle=False,  # the dataset reshuffles itself every epoch
    )
