"""A numpy .npz archive: a feature array and a label array (never unpickled)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hpo.data.checks import check_array_shape, check_array_values
from hpo.data.sources.files import existing_file
from hpo.errors import UserInputError

if TYPE_CHECKING:
    from hpo.config.data_config import DataConfig


def load(config: DataConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    path = existing_file(config)
    try:
        arrays = np.load(path, allow_pickle=False)
    except Exception as err:
        raise UserInputError(f"cannot read npz: {err}", source=str(path)) from None
    names = config.features or ["x"]
    y_key = config.target or "y"
    if y_key in names:
        raise UserInputError(
            f"the target array {y_key!r} is also listed as the features (the label would leak "
            "into the inputs)",
            source=str(path),
            field="data.features",
        )
    if len(names) != 1:
        raise UserInputError(
            f"an npz source takes one feature array, got {len(names)}",
            source=str(path),
            field="data.features",
        )
    x_key = names[0]
    for key, field in ((x_key, "data.features"), (y_key, "data.target")):
        if key not in arrays:
            raise UserInputError(
                f"no array {key!r} (arrays: {', '.join(arrays.files)})",
                source=str(path),
                field=field,
            )
    try:
        x, y = arrays[x_key], arrays[y_key]
    except ValueError as err:  # object arrays need pickle, which we never allow
        raise UserInputError(f"cannot read npz: {err}", source=str(path)) from None
    if not np.issubdtype(x.dtype, np.number):
        raise UserInputError(f"array {x_key!r} is not numeric", source=str(path), field="data")
    check_array_shape(x, x_key, source=str(path))
    check_array_values(x, x_key, source=str(path))
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise UserInputError(
            f"array {y_key!r} must be one label per row, got shape {y.shape}",
            source=str(path),
            field="data.target",
        )
    return x.astype(np.float32), y
