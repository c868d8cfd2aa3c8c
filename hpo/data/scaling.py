"""The train split's feature statistics, which the model applies to RAW rows itself.

`data.scaling` is no longer applied to the arrays: the statistics fitted here on the train
split become the model's first layer (hpo/trial/preprocessing.py), so every saved, served
and exported model takes raw features. The arithmetic is scikit-learn's `StandardScaler` /
`MinMaxScaler` (population variance; a constant feature is divided by 1), written as
`(x - offset) / scale`, so `apply` also rebuilds the pre-scaled splits that models logged by
earlier versions expect.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class InputScaling:
    """Per-feature `(x - offset) / scale`, fitted on the train split (shape: one example)."""

    kind: str  # standard | minmax
    offset: np.ndarray
    scale: np.ndarray

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Scale rows as the model's first layer does (float32, like the old scaled splits)."""
        return ((x - self.offset) / self.scale).astype(np.float32)


def fit_scaling(kind: str, x_train: np.ndarray) -> InputScaling | None:
    """Statistics of the train split for `data.scaling`; None for `none` and for text."""
    if kind == "none" or x_train.dtype == object or len(x_train) == 0:
        return None
    rows = np.asarray(x_train, dtype=np.float64)
    if kind == "standard":
        offset, scale = rows.mean(axis=0), rows.std(axis=0)
    elif kind == "minmax":
        offset, scale = rows.min(axis=0), rows.max(axis=0) - rows.min(axis=0)
    else:
        raise ValueError(f"unknown scaling {kind!r}")
    scale = np.where(scale < 10 * np.finfo(np.float64).eps, 1.0, scale)  # scikit-learn's rule
    return InputScaling(kind, offset, scale)
