"""The warnings a person needs after a sweep, as pure functions (easy to test, no I/O).

Each rule returns a one-line message or None. They read only plain values (ranges, states,
objective values in trial order), so the report, the CLI and tests all share them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

EDGE_FRACTION = 0.05  # within 5% of the range (log scale for log parameters) = on the edge
FAILED_FRACTION = 0.5  # more than half the trials failed or were pruned
STALL_FRACTION = 0.5  # no improvement during the last half of the trials ...
STALL_MIN_TRIALS = 10  # ... of a sweep with at least this many scored trials


@dataclass(frozen=True)
class Range:
    """A numeric search range (what `edge_of_range` needs from the search space)."""

    name: str
    low: float
    high: float
    log: bool = False
    integer: bool = False


def _position(value: float, r: Range) -> float | None:
    """Where `value` sits in the range, 0 (low) .. 1 (high); None if it cannot tell."""
    if r.high <= r.low:
        return None
    if r.log:
        if value <= 0 or r.low <= 0:
            return None
        return (math.log(value) - math.log(r.low)) / (math.log(r.high) - math.log(r.low))
    return (value - r.low) / (r.high - r.low)


def edge_of_range(
    best_params: Mapping[str, Any], ranges: Sequence[Range], fraction: float = EDGE_FRACTION
) -> list[str]:
    """Parameters whose best value sits on the edge of the range: the optimum may lie outside.

    An integer is on the edge only at its bound (a 1..3 layer count has no "near"); a float
    within `fraction` of the range (on the log scale for log ranges).
    """
    messages = []
    for r in ranges:
        raw = best_params.get(r.name)
        try:
            value = float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if r.integer:
            if r.high <= r.low:
                continue
            lower, upper = value <= r.low, value >= r.high
        else:
            position = _position(value, r)
            if position is None:
                continue
            lower, upper = position <= fraction, position >= 1 - fraction
        if lower or upper:
            side = "lower" if lower else "upper"
            messages.append(
                f"best {r.name} = {value:.4g} is at the {side} edge of its range "
                f"[{r.low:.4g}, {r.high:.4g}]: widen the range on that side"
            )
    return messages


def mostly_failed(states: Mapping[str, int], fraction: float = FAILED_FRACTION) -> str | None:
    """Most trials failed or were pruned: the results rest on few trials (or a bug)."""
    total = sum(states.values())
    failed, pruned = states.get("FAIL", 0), states.get("PRUNED", 0)
    if total == 0 or (failed + pruned) / total <= fraction:
        return None
    return (
        f"{failed + pruned} of {total} trials did not complete ({failed} failed, {pruned} "
        "pruned): check the errors (`hpo.error` tags) or relax the pruner"
    )


def last_improvement(
    values: Sequence[float | None], direction: str, min_delta: float = 1e-4
) -> int | None:
    """Index (in trial order) of the last value that beat the best so far by > min_delta."""
    best: float | None = None
    found: int | None = None
    for index, value in enumerate(values):
        if value is None or not math.isfinite(value):
            continue
        better = (
            best is None
            or (direction == "maximize" and value > best + min_delta)
            or (direction == "minimize" and value < best - min_delta)
        )
        if better:
            best, found = value, index
    return found


def stalled(
    values: Sequence[float | None],
    direction: str,
    *,
    trial_numbers: Sequence[int] | None = None,
    fraction: float = STALL_FRACTION,
    min_trials: int = STALL_MIN_TRIALS,
    min_delta: float = 1e-4,
) -> str | None:
    """The objective stopped improving long ago: more trials would likely be wasted.

    `values` are the objective values in trial order (None for failed or pruned trials).
    """
    scored = [v for v in values if v is not None and math.isfinite(v)]
    if len(scored) < min_trials:
        return None
    last = last_improvement(values, direction, min_delta)
    if last is None:
        return None
    since = len(values) - 1 - last
    if since < fraction * len(values):
        return None
    numbers = list(trial_numbers) if trial_numbers is not None else list(range(len(values)))
    return (
        f"the objective has not improved for {since} trials (last at trial {numbers[last]} "
        f"of {len(values)}): stop sooner, or change the search space or strategy"
    )


def sweep_warnings(
    values: Sequence[float | None],
    trial_numbers: Sequence[int],
    states: Mapping[str, int],
    direction: str,
    best_params: Mapping[str, Any] | None,
    ranges: Sequence[Range],
) -> list[str]:
    """The three rules applied to one sweep (`best_params`: None when no trial is best)."""
    found: list[str] = []
    if best_params is not None:
        found += edge_of_range(best_params, ranges)
    for message in (
        mostly_failed(states),
        stalled(values, direction, trial_numbers=trial_numbers),
    ):
        if message:
            found.append(message)
    return found


__all__ = [
    "Range",
    "edge_of_range",
    "last_improvement",
    "mostly_failed",
    "stalled",
    "sweep_warnings",
]
