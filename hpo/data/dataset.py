"""Datasets: load once, split once (stratified, seeded), fit scaling on train only, fingerprint.

The splits keep the RAW rows: the train split's scaling statistics (`Dataset.scaling`)
become the model's first layer (hpo/trial/preprocessing.py), so saved models take raw rows.

The fingerprint is a hash of the raw arrays, the split indices and the scaling, so two
sweeps with the same fingerprint saw exactly the same train/validation/test rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any, cast

import numpy as np

from hpo.config.data_config import DataConfig
from hpo.data.images import ImageArray
from hpo.data.scaling import InputScaling, fit_scaling
from hpo.data.sources import load_raw
from hpo.data.splits import split_indices
from hpo.errors import UserInputError


@dataclass(frozen=True)
class Dataset:
    """A split dataset. The test split is for promotion only: search never reads it."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    fingerprint: str
    # the train split's statistics, applied by the model itself (None: text, scaling none)
    scaling: InputScaling | None = None

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Per-example shape; `()` for text (one string per example)."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def is_text(self) -> bool:
        """Raw strings (text sources): the model vectorizes them itself."""
        return self.x_train.dtype == object

    def summary(self) -> dict[str, Any]:
        return {
            "input_shape": list(self.input_shape),
            "n_classes": self.n_classes,
            "train": len(self.y_train),
            "validation": len(self.y_val),
            "test": len(self.y_test),
            "fingerprint": self.fingerprint,
        }


def pre_scaled(dataset: Dataset) -> Dataset:
    """The splits scaled outside the model, as models logged before raw input expect them."""
    s = dataset.scaling
    if s is None:
        return dataset
    return replace(
        dataset,
        x_train=s.apply(dataset.x_train),
        x_val=s.apply(dataset.x_val),
        x_test=s.apply(dataset.x_test),
        scaling=None,
    )


def _raw(config: DataConfig, x: np.ndarray) -> np.ndarray:
    """Raw rows as the model's float input (as-is for text and `scaling: none`)."""
    if isinstance(x, ImageArray):  # image files: the model rescales raw pixels itself
        return x
    return x if config.scaling == "none" or x.dtype == object else x.astype(np.float32)


def _rows(x: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """The rows at `indices`; image files stay undecoded (an `ImageArray` of their paths,
    duck-typed as an array: every reader slices it into decoded uint8 pixels)."""
    if isinstance(x, ImageArray):
        return cast(np.ndarray, x.subset(indices))
    return x[indices]


def load_dataset(config: DataConfig, seed: int) -> Dataset:
    """Load, split (stratified, seeded) and scale; the same inputs give the same fingerprint."""
    if config.seed is not None:  # pinned split (e.g. `hpo compare` varies only the strategy)
        seed = config.seed
    x, y_raw = load_raw(config, seed)
    if len(x) != len(y_raw):
        raise UserInputError("features and target have different lengths", field="data")
    classes, y = np.unique(y_raw, return_inverse=True)
    if len(classes) < 2:
        raise UserInputError("the target has fewer than two classes", field="data.target")
    train_idx, val_idx, test_idx = split_indices(config, y, classes, seed)
    x_train, x_val, x_test = (_raw(config, _rows(x, i)) for i in (train_idx, val_idx, test_idx))
    return Dataset(
        x_train=x_train,
        y_train=y[train_idx].astype(np.int64),
        x_val=x_val,
        y_val=y[val_idx].astype(np.int64),
        x_test=x_test,
        y_test=y[test_idx].astype(np.int64),
        class_names=tuple(str(c) for c in classes),
        fingerprint=fingerprint(x, y, (train_idx, val_idx, test_idx), config.scaling),
        scaling=None if isinstance(x, ImageArray) else fit_scaling(config.scaling, x[train_idx]),
    )


def fingerprint(x: np.ndarray, y: np.ndarray, splits: tuple[np.ndarray, ...], scaling: str) -> str:
    """sha256 of the raw rows, the labels, the split indices and the scaling: equal
    fingerprints mean the same train/validation/test rows (`hpo.data_sha256`)."""
    digest = hashlib.sha256()
    if isinstance(x, ImageArray):  # image files: relative paths + contents, never pixels
        digest.update(f"{x.digest} {x.image_size} {x.channels}".encode())
    elif x.dtype == object:  # text: hash the strings, not the object pointers
        digest.update("\x1f".join(map(str, x)).encode("utf-8"))
    else:
        digest.update(np.ascontiguousarray(x).tobytes())
    for part in (y, *splits):
        digest.update(np.ascontiguousarray(part).tobytes())
    digest.update(scaling.encode())
    return digest.hexdigest()
