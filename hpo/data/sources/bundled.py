"""The small data sets bundled with scikit-learn (no download): digits (flat or as 8x8
images), breast_cancer, wine and iris."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hpo.config.data_config import DataConfig


def load(config: DataConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    source = config.source
    if source in ("digits", "digits_images"):
        bunch = datasets.load_digits()
        x = bunch.data if source == "digits" else bunch.images[..., np.newaxis]
        return np.asarray(x, dtype=np.float32), bunch.target
    loader = {
        "breast_cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
        "iris": datasets.load_iris,
    }[source]
    bunch = loader()
    return np.asarray(bunch.data, dtype=np.float32), bunch.target
