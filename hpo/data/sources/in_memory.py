"""Data handed over in Python (`hpo.run(data=...)`): numpy `(X, y)` or a DataFrame + target.

The arrays are checked as a file's would be, then kept as a content-addressed `.npz`
snapshot (`.hpo-data/<sha256>.npz`) that the sweep names as an ordinary `npz` source. So
the split, the fingerprint (`hpo.data_sha256`), the logged config, a resume, `promote`
(which rebuilds the test rows) and `export` all work as for a file, and the same data gives
the same fingerprint in any process, and as the equivalent CSV (features read as float64,
then float32, exactly as hpo/data/sources/table.py reads them).

`load` is the `memory` source a partial experiment names when it has no `data.source`:
reaching it means neither the config nor `hpo.run` gave any data.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hpo.data.checks import check_array_shape, check_array_values, check_table_values
from hpo.errors import UserInputError

if TYPE_CHECKING:
    from hpo.config.data_config import DataConfig

SOURCE = "data="  # what an error blames: the argument, not a file
SNAPSHOT_FOLDER = ".hpo-data"


def load(config: DataConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    raise UserInputError(
        "no data: name a data.source in the config, or pass data=(X, y) or a DataFrame "
        "with target= to hpo.run",
        field="data.source",
    )


def arrays_of(data: Any, target: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Features (float32) and labels from `(X, y)` or a DataFrame with a `target` column.

    Raises:
        UserInputError: not one of the two forms, a missing or non-numeric column, missing
            or infinite values, or lengths that differ.
    """
    if _is_frame(data):
        return _frame_arrays(data, target)
    if target is not None:
        raise UserInputError("target= is for a DataFrame; (X, y) names no columns", field="target")
    if not isinstance(data, tuple | list) or len(data) != 2:
        raise UserInputError(
            f"expected (X, y) arrays or a pandas DataFrame, got {type(data).__name__}",
            source=SOURCE,
        )
    x = np.asarray(data[0])
    y = np.asarray(data[1])
    if not np.issubdtype(x.dtype, np.number):
        raise UserInputError(f"X is not numeric (dtype {x.dtype})", source=SOURCE, field="X")
    check_array_shape(x, "X", source=SOURCE)
    x = x.astype(np.float64)
    check_array_values(x, "X", source=SOURCE)
    return x.astype(np.float32), _labels(y, "y")


def _is_frame(data: Any) -> bool:
    return type(data).__name__ == "DataFrame" and hasattr(data, "columns")


def _frame_arrays(frame: Any, target: str | None) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    if target is None:
        raise UserInputError("a DataFrame needs target= (its label column)", field="target")
    if target not in frame.columns:
        columns = ", ".join(map(str, frame.columns[:20]))
        raise UserInputError(
            f"no target column {target!r} (columns: {columns})", source=SOURCE, field="target"
        )
    features = [c for c in frame.columns if c != target]
    if not features:
        raise UserInputError(
            f"no feature columns: the DataFrame has only the target column {target!r}",
            source=SOURCE,
        )
    non_numeric = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise UserInputError(f"feature column {non_numeric[0]!r} is not numeric", source=SOURCE)
    values = frame[features].to_numpy(dtype=np.float64)
    check_table_values(values, [str(c) for c in features], source=SOURCE)
    if frame[target].isna().any():
        raise UserInputError(
            f"target column {target!r} has missing values", source=SOURCE, field="target"
        )
    return values.astype(np.float32), _labels(frame[target].to_numpy(), "target")


def _labels(y: np.ndarray, name: str) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise UserInputError(
            f"one label per row expected, got shape {y.shape}", source=SOURCE, field=name
        )
    if y.dtype == object:  # an npz is read without pickle: labels as text
        y = y.astype(str)
    return y


def snapshot(x: np.ndarray, y: np.ndarray, folder: str | Path = SNAPSHOT_FOLDER) -> Path:
    """Write `x` and `y` once to `<folder>/<sha256>.npz` (named by content, so the same data
    is the same file) and return its absolute path."""
    if len(x) != len(y):
        raise UserInputError(f"X has {len(x)} rows, y has {len(y)}", source=SOURCE, field="data")
    digest = hashlib.sha256()
    for part in (x, y):
        digest.update(str((part.dtype.str, part.shape)).encode())
        digest.update(np.ascontiguousarray(part).tobytes())
    target = Path(folder).resolve() / f"{digest.hexdigest()[:32]}.npz"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".npz.part")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, x=x, y=y)
        os.replace(temporary, target)  # whole or absent, even with two writers
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
