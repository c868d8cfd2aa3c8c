"""A csv with a text column and a label column. The text stays raw: the model vectorizes it
itself, with the vocabulary fitted on the train split only."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hpo.data.sources.files import existing_file, read_table
from hpo.errors import UserInputError

if TYPE_CHECKING:
    from hpo.config.data_config import DataConfig


def load(config: DataConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    path = existing_file(config)
    frame = read_table(path, "csv")
    columns = ", ".join(map(str, frame.columns[:20]))
    text_column = config.text_column or "text"
    target = config.target or "label"
    for column, field in ((text_column, "data.text_column"), (target, "data.target")):
        if column not in frame.columns:
            raise UserInputError(
                f"no column {column!r} (columns: {columns})", source=str(path), field=field
            )
    if text_column == target:
        raise UserInputError(
            f"column {text_column!r} is both the text and the label (the label would leak into "
            "the inputs)",
            source=str(path),
            field="data.text_column",
        )
    values = frame[text_column]
    present = values.dropna()
    if present.empty or pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise UserInputError(
            f"column {text_column!r} is not text (dtype {values.dtype}); name the text column "
            "in data.text_column",
            source=str(path),
            field="data.text_column",
        )
    if not all(isinstance(v, str) for v in present):
        raise UserInputError(
            f"column {text_column!r} mixes text with other values",
            source=str(path),
            field="data.text_column",
        )
    labels = frame[target]
    if labels.isna().any():
        raise UserInputError(
            f"label column {target!r} has missing values", source=str(path), field="data.target"
        )
    texts = np.array([v if isinstance(v, str) else "" for v in values], dtype=object)
    return texts, labels.to_numpy()
