"""Optimisation histories on a Matplotlib Axes: the trials' objective and the best so far.

Past `DENSE_TRIALS` scored trials (the bound past which the parameter pictures draw a
sample, reporting/sample.py) a history draws a log-scaled hexagonal density instead of one
dot per trial: 10,000 dots are one blob.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from hpo.reporting.sample import PICTURE_TRIALS

DENSE_TRIALS = PICTURE_TRIALS


def best_so_far(values: Sequence[float | None], direction: str) -> list[float | None]:
    """Running best (None until the first scored trial)."""
    out: list[float | None] = []
    best: float | None = None
    for value in values:
        if (
            value is not None
            and math.isfinite(value)
            and (best is None or (value > best if direction == "maximize" else value < best))
        ):
            best = value
        out.append(best)
    return out


def draw_history(
    ax: Any,
    xs: Sequence[float],
    values: Sequence[float | None],
    direction: str,
    metric: str,
    xlabel: str,
) -> None:
    """The objective and the best so far against `xs`, on the given Axes; past
    `DENSE_TRIALS` scored trials, how many fell in each cell instead of one dot each."""
    points = [(x, v) for x, v in zip(xs, values, strict=True) if v is not None]
    if len(points) > DENSE_TRIALS:
        x_all, y_all = zip(*points, strict=True)
        cells = ax.hexbin(x_all, y_all, gridsize=(60, 30), bins="log", mincnt=1, cmap="Blues")
        ax.figure.colorbar(cells, ax=ax, label="trials per cell")
    elif points:
        ax.scatter(*zip(*points, strict=True), s=18, color="#4c72b0", label="trial", zorder=3)
    running = [
        (x, b) for x, b in zip(xs, best_so_far(values, direction), strict=True) if b is not None
    ]
    if running:
        ax.step(*zip(*running, strict=True), where="post", color="#dd8452", label="best so far")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(metric)
    ax.set_title(f"Optimisation history ({direction} {metric})")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
