"""Which completed trials the parameter pictures draw when a sweep has thousands.

Parallel coordinates, slices and the contour stay readable at 10,000 trials only if they do
not draw 10,000 lines and dots, and fANOVA (the importances) grows faster than linearly
with the trials it is fitted on (Optuna's defaults, 3 parameters, 2 busy cores: 6 s at 250
trials, 16 s at 500, 34 s at 1,000, with importances within ~0.07 of each other). Past
`PICTURE_TRIALS`, the pictures draw the best `BEST_KEPT` trials (where the user looks) and a
seeded random sample of the rest (the shape of the search); past `IMPORTANCE_TRIALS`, the
importances are fitted on a seeded uniform sample (the search, not its best corner), with a
smaller forest past `axes.FEW_TRIALS` (16 trees: 2.1 s instead of 7.7 s on 300 trials). The
captions say so.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from hpo.reporting.axes import Axis

PICTURE_TRIALS = 1000
IMPORTANCE_TRIALS = 300
BEST_KEPT = 200
SEED = 0


def for_pictures(values: Sequence[float], direction: str, limit: int = PICTURE_TRIALS) -> list[int]:
    """Positions into `values` to draw, in their original order: all of them up to `limit`."""
    if len(values) <= limit:
        return list(range(len(values)))
    sign = -1.0 if direction == "maximize" else 1.0
    ranked = sorted(range(len(values)), key=lambda i: (sign * values[i], i))
    best = ranked[: min(BEST_KEPT, limit)]
    rest = random.Random(SEED).sample(ranked[len(best) :], limit - len(best))
    return sorted(best + rest)


def uniform(count: int, limit: int = PICTURE_TRIALS) -> list[int]:
    """Positions of a seeded uniform sample of `limit` out of `count` (all when fewer)."""
    if count <= limit:
        return list(range(count))
    return sorted(random.Random(SEED).sample(range(count), limit))


def caption(shown: int, total: int) -> str:
    """What a picture's caption adds when it draws a sample."""
    if shown >= total:
        return ""
    return f" (a sample: the best {BEST_KEPT} and {shown - BEST_KEPT} at random of {total})"


@dataclass(frozen=True)
class Picked:
    """The axes and objective values of the trials at `positions` (into the sweep's list)."""

    positions: list[int]
    axes: list[Axis]
    values: list[float | None]

    @classmethod
    def at(
        cls, axes: Sequence[Axis], values: Sequence[float | None], positions: list[int]
    ) -> Picked:
        return cls(
            positions,
            [
                Axis(a.name, tuple(a.values[i] for i in positions), a.log, a.labels, a.param)
                for a in axes
            ],
            [values[i] for i in positions],
        )

    @classmethod
    def for_pictures(
        cls,
        axes: Sequence[Axis],
        values: Sequence[float | None],
        complete: list[int],
        direction: str,
    ) -> Picked:
        """The completed trials (`complete`: positions with a value) the pictures draw."""
        scores = [values[i] or 0.0 for i in complete]
        return cls.at(axes, values, [complete[k] for k in for_pictures(scores, direction)])

    @classmethod
    def uniform(
        cls, axes: Sequence[Axis], values: Sequence[float | None], complete: list[int]
    ) -> Picked:
        """The completed trials fANOVA is fitted on."""
        picked = uniform(len(complete), IMPORTANCE_TRIALS)
        return cls.at(axes, values, [complete[k] for k in picked])
