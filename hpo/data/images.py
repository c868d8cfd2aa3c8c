"""Image files as a lazy array: paths in memory, pixels decoded only when a slice is read.

An image-folder dataset keeps each split as an `ImageArray` of relative file paths, so a
split of 5,000 images costs a few hundred kilobytes and pickles cheaply to the training
processes. Code that reads rows the numpy way (`len(x)`, `x[a:b]`, `x[indices]`,
`np.asarray(x)`) gets raw pixel values (uint8, 0-255) decoded by Pillow and fitted to
`image_size` — the one decoder every reader shares (training's tf.data pipeline in
hpo/trial/streaming.py calls `read_image` too), so validation, promotion and export see the
exact pixels training saw. Scaling to [0, 1] happens inside the model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpo.errors import UserInputError

# the extensions of the formats keras.utils.image_dataset_from_directory reads
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
# decoded bytes an image split may take as numpy arrays (grid's cross-validation) or in
# tf.data's memory cache; override with HPO_IMAGE_MEMORY_MB / HPO_IMAGE_CACHE_MB
DEFAULT_MEMORY_MB = 1024
DEFAULT_CACHE_MB = 256


def memory_limit_bytes() -> int:
    """The most decoded pixel bytes hpo loads as arrays (HPO_IMAGE_MEMORY_MB, default 1024)."""
    return int(float(os.environ.get("HPO_IMAGE_MEMORY_MB", DEFAULT_MEMORY_MB)) * 2**20)


def cache_limit_bytes() -> int:
    """The most decoded pixel bytes tf.data caches in memory (HPO_IMAGE_CACHE_MB, default
    256; 0 never caches, so memory stays flat whatever the number of images)."""
    return int(float(os.environ.get("HPO_IMAGE_CACHE_MB", DEFAULT_CACHE_MB)) * 2**20)


def read_image(path: str | Path, size: tuple[int, int], channels: int) -> np.ndarray:
    """One file as a (height, width, channels) uint8 array: decoded, converted to RGB or
    grey, and resized with bilinear filtering when it is not `size` already."""
    from PIL import Image

    with Image.open(path) as image:
        converted = image.convert("RGB" if channels == 3 else "L")
        height, width = size
        if converted.size != (width, height):
            converted = converted.resize((width, height), Image.Resampling.BILINEAR)
        pixels = np.asarray(converted, dtype=np.uint8)
    return pixels if channels == 3 else pixels[..., np.newaxis]


@dataclass(frozen=True, eq=False)
class ImageArray:
    """Image files read as a (n, height, width, channels) uint8 array, lazily.

    `digest` is the sha256 of the whole folder's relative paths and file contents (set by
    the loader, kept by every subset) so the dataset fingerprint never decodes a pixel.
    """

    root: str
    files: tuple[str, ...]  # relative to root, '/'-separated
    image_size: tuple[int, int]
    channels: int
    digest: str = ""

    dtype = np.dtype(np.uint8)
    ndim = 4

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.files), *self.image_size, self.channels)

    @property
    def nbytes(self) -> int:
        """What the decoded pixels take as one uint8 array."""
        return int(np.prod(self.shape))

    def paths(self) -> list[str]:
        return [os.path.join(self.root, f) for f in self.files]

    def __len__(self) -> int:
        return len(self.files)

    def subset(self, indices: Any) -> ImageArray:
        """The files at `indices` (a slice, or integer positions), still undecoded."""
        if isinstance(indices, slice):
            chosen = self.files[indices]
        else:
            chosen = tuple(self.files[int(i)] for i in np.asarray(indices).ravel())
        return ImageArray(self.root, chosen, self.image_size, self.channels, self.digest)

    def __getitem__(self, key: Any) -> Any:
        """A slice or index array decodes those rows; an integer decodes one image."""
        if isinstance(key, int | np.integer):
            return read_image(os.path.join(self.root, self.files[int(key)]), *self._spec())
        return self.subset(key).decode()

    def _spec(self) -> tuple[tuple[int, int], int]:
        return self.image_size, self.channels

    def decode(self) -> np.ndarray:
        """Every image of this array, decoded into one uint8 array."""
        out = np.empty(self.shape, dtype=np.uint8)
        for i, path in enumerate(self.paths()):
            out[i] = read_image(path, self.image_size, self.channels)
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        pixels = self.decode()
        return pixels if dtype is None else pixels.astype(dtype)


def is_image_array(x: Any) -> bool:
    return isinstance(x, ImageArray)


def require_in_memory(arrays: list[Any], why: str, field: str) -> None:
    """Refuse (exit 2) when image splits that must become numpy arrays would pass the
    memory limit; arrays already in memory always pass."""
    images = [a for a in arrays if isinstance(a, ImageArray)]
    needed = sum(a.nbytes for a in images)
    limit = memory_limit_bytes()
    if needed > limit:
        raise UserInputError(
            f"{why}: the {sum(len(a) for a in images)} images would take "
            f"{needed / 2**20:.1f} MB decoded, over the {limit / 2**20:.1f} MB limit "
            "(HPO_IMAGE_MEMORY_MB); use a smaller image_size or max_samples, a streaming "
            "strategy (optuna-*, random), or raise HPO_IMAGE_MEMORY_MB",
            field=field,
        )
