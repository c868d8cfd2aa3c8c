"""A csv or parquet table: numeric feature columns and a target column."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hpo.data.checks import check_table_values
from hpo.data.sources.files import existing_file, read_table
from hpo.errors import UserInputError

if TYPE_CHECKING:
    from hpo.config.data_config import DataConfig


def load(config: DataConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    path = existing_file(config)
    frame = read_table(path, "csv" if config.source == "csv" else "parquet")
    target = config.target or "target"
    if target not in frame.columns:
        raise UserInputError(
            f"no target column {target!r} (columns: {', '.join(map(str, frame.columns[:20]))})",
            source=str(path),
            field="data.target",
        )
    features = config.features or [c for c in frame.columns if c != target]
    if target in features:  # the label among the inputs: every model would just copy it
        raise UserInputError(
            f"the target column {target!r} is also listed as a feature (the label would leak "
            "into the inputs)",
            source=str(path),
            field="data.features",
        )
    if not features:
        raise UserInputError(
            f"no feature columns: the file has only the target column {target!r}",
            source=str(path),
            field="data.features",
        )
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise UserInputError(f"no column {missing[0]!r}", source=str(path), field="data.features")
    non_numeric = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise UserInputError(
            f"feature column {non_numeric[0]!r} is not numeric", source=str(path), field="data"
        )
    values = frame[features].to_numpy(dtype=np.float64)
    check_table_values(values, [str(c) for c in features], source=str(path))
    if frame[target].isna().any():
        raise UserInputError(
            f"target column {target!r} has missing values", source=str(path), field="data.target"
        )
    return values.astype(np.float32), frame[target].to_numpy()
