"""Fold spread as error bars on the history picture when trials were cross-validated.

A cross-validated trial logs `<metric>` (the mean over fold runs) and `<metric>_std`
(hpo/trial/cv.py); a bar of ± one std shows which differences between trials are within
the folds' own noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def fold_spreads(records: Sequence[Any], metric: str) -> list[float | None]:
    """Each record's `<metric>_std`, None where it has none."""
    out: list[float | None] = []
    for record in records:
        std = record.metrics.get(f"{metric}_std")
        out.append(float(std) if std is not None and math.isfinite(std) else None)
    return out


def draw_fold_spread(
    ax: Any,
    numbers: Sequence[int],
    values: Sequence[float | None],
    records: Sequence[Any],
    metric: str,
) -> None:
    """± std error bars at each cross-validated trial's mean; nothing without cv."""
    if len(records) != len(values):
        return
    points = [
        (n, v, s)
        for n, v, s in zip(numbers, values, fold_spreads(records, metric), strict=True)
        if v is not None and s is not None
    ]
    if not points:
        return
    xs, ys, spread = zip(*points, strict=True)
    ax.errorbar(
        xs, ys, yerr=spread, fmt="none", ecolor="#4c72b0", alpha=0.6, capsize=3,
        label="fold spread (± std)", zorder=2,
    )  # fmt: skip
    ax.legend(loc="best")
