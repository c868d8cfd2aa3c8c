"""A generated classification problem (scikit-learn's make_classification), seeded."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hpo.errors import UserInputError

if TYPE_CHECKING:
    from hpo.config.data_config import DataConfig


def load(config: DataConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification

    opts = config.synthetic
    if opts.n_informative + opts.n_redundant > opts.n_features:
        raise UserInputError(
            "n_informative + n_redundant must be <= n_features", field="data.synthetic"
        )
    try:
        x, y = make_classification(**opts.model_dump(), random_state=seed)
    except ValueError as err:  # e.g. too many classes for n_informative
        raise UserInputError(str(err), field="data.synthetic") from None
    return x.astype(np.float32), y
