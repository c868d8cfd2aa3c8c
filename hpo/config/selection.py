"""Picking the best: single-objective best, Pareto sets, and constraints, in one place.

Works on anything with a `metrics` mapping, so the sweep (ledger trials) and `hpo best`
(MLflow runs) agree on what "best" means. Ties go to the earliest trial.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol, TypeVar

from hpo.config.experiment import Constraint, Objective


class Scored(Protocol):
    @property
    def metrics(self) -> Mapping[str, float]: ...


T = TypeVar("T", bound=Scored)


def value_of(metrics: Mapping[str, float], metric: str) -> float | None:
    value = metrics.get(metric)
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def feasible(metrics: Mapping[str, float], constraints: Sequence[Constraint]) -> bool:
    return all(c.holds(value_of(metrics, c.metric)) for c in constraints)


def _scored(
    items: Sequence[T], objectives: Sequence[Objective], constraints: Sequence[Constraint]
) -> list[tuple[tuple[float, ...], int, T]]:
    """(minimisation key, position, item) for every item with all objectives finite."""
    out = []
    for position, item in enumerate(items):
        found = [value_of(item.metrics, o.metric) for o in objectives]
        values = [v for v in found if v is not None]
        if len(values) != len(found) or not feasible(item.metrics, constraints):
            continue
        key = tuple(
            -v if o.direction == "maximize" else v for v, o in zip(values, objectives, strict=True)
        )
        out.append((key, position, item))
    return out


def best(
    items: Sequence[T], objective: Objective, constraints: Sequence[Constraint] = ()
) -> T | None:
    """The best feasible item on one objective; the earliest wins a tie."""
    scored = _scored(items, [objective], constraints)
    return min(scored, key=lambda s: (s[0], s[1]))[2] if scored else None


def pareto_front(
    items: Sequence[T], objectives: Sequence[Objective], constraints: Sequence[Constraint] = ()
) -> list[T]:
    """Feasible items no other feasible item dominates, sorted by the first objective."""
    scored = _scored(items, objectives, constraints)

    def dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
        return all(x <= y for x, y in zip(a, b, strict=True)) and a != b

    front = [s for s in scored if not any(dominates(o[0], s[0]) for o in scored)]
    return [s[2] for s in sorted(front, key=lambda s: (s[0], s[1]))]


def is_better(value: float | None, threshold: float | None, direction: str) -> bool:
    """Does `value` beat `threshold` (None: nothing to beat yet)?"""
    if value is None:
        return False
    if threshold is None:
        return True
    return value > threshold if direction == "maximize" else value < threshold
