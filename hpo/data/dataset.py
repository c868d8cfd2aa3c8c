"""Datasets: load once, split once (stratified, seeded), scale on train only, fingerprint.

The fingerprint is a hash of the raw arrays, the split indices and the scaling, so two
sweeps with the same fingerprint saw exactly the same train/validation/test rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from hpo.config.experiment import DataConfig
from hpo.data.images import ImageArray
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


def _scale(config: DataConfig, train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    if config.scaling == "none" or train.dtype == object:  # text is never scaled
        return [train, *others]
    if isinstance(train, ImageArray):  # image files: the model rescales raw pixels itself
        return [train, *others]
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    scaler = StandardScaler() if config.scaling == "standard" else MinMaxScaler()
    shape = train.shape[1:]
    scaler.fit(train.reshape(len(train), -1))
    return [
        scaler.transform(a.reshape(len(a), -1)).reshape((len(a), *shape)).astype(np.float32)
        for a in (train, *others)
    ]


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
    x_train, x_val, x_test = _scale(config, *(_rows(x, i) for i in (train_idx, val_idx, test_idx)))
    return Dataset(
        x_train=x_train,
        y_train=y[train_idx].astype(np.int64),
        x_val=x_val,
        y_val=y[val_idx].astype(np.int64),
        x_test=x_test,
        y_test=y[test_idx].astype(np.int64),
        class_names=tuple(str(c) for c in classes),
        fingerprint=fingerprint(x, y, (train_idx, val_idx, test_idx), config.scaling),
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
