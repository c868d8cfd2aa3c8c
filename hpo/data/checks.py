"""Checks a loaded feature matrix must pass before anything trains on it.

Keras trains in float32: a NaN, an infinity or a value beyond float32's range (which the
cast turns into an infinity) would only surface later, as a scaler traceback or a NaN loss
in every trial. Each check names the file, the column or array, and where the bad value is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hpo.errors import UserInputError

FLOAT32_MAX = float(np.finfo(np.float32).max)


def _first_bad(values: np.ndarray) -> tuple[int, str] | None:
    """Flat index and kind of the first NaN, infinity or float32-overflowing value."""
    if values.size == 0 or (np.isfinite(values).all() and np.abs(values).max() <= FLOAT32_MAX):
        return None  # the common case: one pass, no masks kept
    for kind, mask in (
        ("missing values", np.isnan(values)),
        ("infinite values", np.isinf(values)),
        (f"values beyond float32's range ±{FLOAT32_MAX:.3g}", np.abs(values) > FLOAT32_MAX),
    ):
        if mask.any():
            return int(np.argmax(mask.ravel())), kind
    return None


def check_table_values(values: np.ndarray, columns: Sequence[str], *, source: str) -> None:
    """`values` (rows x columns, float64): every feature value finite and float32-sized."""
    found = _first_bad(values)
    if found is not None:
        flat, kind = found
        row, column = divmod(flat, values.shape[1])
        raise UserInputError(
            f"column {columns[column]!r} has {kind} "
            f"(first: {float(values[row, column]):g} in data row {row + 1})",
            source=source,
            field="data.features",
        )


def check_array_values(values: np.ndarray, name: str, *, source: str) -> None:
    """An npz feature array: numeric, real, finite and float32-sized everywhere."""
    if np.iscomplexobj(values):
        raise UserInputError(
            f"array {name!r} is complex; features must be real numbers",
            source=source,
            field="data.features",
        )
    if not np.issubdtype(values.dtype, np.floating):
        return  # integers and booleans are finite, and int64 stays inside float32's range
    found = _first_bad(np.asarray(values, dtype=np.float64))
    if found is not None:
        flat, kind = found
        where = tuple(int(i) for i in np.unravel_index(flat, values.shape))
        raise UserInputError(
            f"array {name!r} has {kind} (first: {float(values[where]):g} at index {where})",
            source=source,
            field="data.features",
        )


def check_array_shape(values: np.ndarray, name: str, *, source: str) -> None:
    """One row per example, each with at least one feature."""
    if values.ndim < 2 or 0 in values.shape[1:]:
        raise UserInputError(
            f"array {name!r} has shape {values.shape}: it needs one row per example with at "
            "least one feature, e.g. (rows, features)",
            source=source,
            field="data.features",
        )
