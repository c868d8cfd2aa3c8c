"""What "better" means, in one place: the direction of a metric, constraints and
where-clauses, the single-objective best, Pareto sets, and the trial `hpo promote` picks.

Works on anything with a `metrics` mapping, so the sweep (ledger trials), `hpo best` and
`hpo promote` (MLflow runs) agree on what "best" means. Ties go to the earliest trial.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from hpo.config.experiment import Constraint, Objective
from hpo.errors import UserInputError
from hpo.metrics import COMPARISONS, lower_is_better


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


# ---------------------------------------------------------------------------- direction


def direction_of(metric: str, objective: str, objective_direction: str) -> str:
    """The sweep's own direction for its objective; costs and losses down; scores up."""
    if metric == objective:
        return objective_direction
    return "minimize" if lower_is_better(metric) else "maximize"


# ---------------------------------------------------------------------------- where-clauses


class Described(Scored, Protocol):
    """A trial as the tracking store shows it: metrics, and parameters as text."""

    @property
    def params(self) -> Mapping[str, Any]: ...


class Candidate(Described, Protocol):
    """A trial that may be picked for promotion."""

    @property
    def trial(self) -> int: ...
    @property
    def state(self) -> str: ...
    @property
    def has_model(self) -> bool: ...


C = TypeVar("C", bound=Candidate)

# metrics measured on the held-out test split (`hpo promote` logs them on the trial's run):
# picking or filtering trials by them would let the test split choose the model
TEST_PREFIX = "test_"


def check_selectable(name: str, field: str) -> None:
    """Refuse a test-split metric as a selection criterion (`--metric`, `--where`)."""
    if name.startswith(TEST_PREFIX):
        raise UserInputError(
            f"{name!r} is measured on the test split, which must not choose the model; "
            f"select on a validation metric ({name.removeprefix(TEST_PREFIX)!r})",
            field=field,
        )


_WHERE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(>=|<=|==|!=|>|<)\s*(\S.*?)\s*")


def number_of(item: Described, name: str) -> float | None:
    """A metric, else a numeric parameter (parameters are logged as text)."""
    if name in item.metrics:
        return float(item.metrics[name])
    if name in item.params:
        try:
            return float(item.params[name])
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class Where:
    """One where-clause on a trial's metric or numeric parameter, e.g. `precision>=0.9`."""

    name: str
    op: str
    value: float

    @classmethod
    def of(cls, constraint: Constraint) -> Where:
        """A config constraint (`constraints:` in the experiment) as a where-clause."""
        return cls(constraint.metric, constraint.op, float(constraint.value))

    def holds(self, item: Described) -> bool:
        value = number_of(item, self.name)
        return value is not None and bool(COMPARISONS[self.op](value, self.value))

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value:g}"


def parse_where(expressions: Sequence[str], items: Sequence[Described]) -> list[Where]:
    """`precision>=0.9` (several expressions, or comma-separated); names must exist in `items`
    and may not be test-split metrics."""
    params = {k for r in items for k in r.params}
    known = sorted(params | {k for r in items for k in r.metrics if not k.startswith(TEST_PREFIX)})
    clauses: list[Where] = []
    for expression in expressions:
        for part in filter(None, (p.strip() for p in expression.split(","))):
            match = _WHERE.fullmatch(part)
            if match is None:
                raise UserInputError(
                    f"cannot read {part!r}: write NAME OP NUMBER, e.g. 'precision>=0.9'",
                    field="--where",
                )
            name, op, raw = match.groups()
            if name not in params:  # a parameter may be called test_…; a metric may not
                check_selectable(name, "--where")
            try:
                value = float(raw)
                if math.isnan(value):
                    raise ValueError(raw)
            except ValueError:
                raise UserInputError(f"{raw!r} is not a number", field=f"--where {part}") from None
            if name not in known:
                raise UserInputError(
                    f"no metric or parameter {name!r} in the sweep (known: {', '.join(known)})",
                    field="--where",
                )
            clauses.append(Where(name, op, value))
    return clauses


# ---------------------------------------------------------------------------- promotion pick


def select_trial(
    records: Sequence[C],
    metric: str,
    direction: str,
    constraints: Sequence[Where],
    objective: str,
    objective_direction: str,
) -> C:
    """The best COMPLETE trial with a logged model that meets every where-clause.

    Ties on `metric` go to the better sweep objective, then to the earlier trial.
    """
    check_selectable(metric, "--metric")
    complete = [r for r in records if r.state == "COMPLETE"]
    if not complete:
        raise UserInputError("no completed trial in the sweep", field="--study")
    if not any(metric in r.metrics for r in complete):
        known = sorted({k for r in complete for k in r.metrics if not k.startswith(TEST_PREFIX)})
        raise UserInputError(
            f"no trial has metric {metric!r} (known: {', '.join(known)})", field="--metric"
        )
    meeting = [r for r in complete if all(c.holds(r) for c in constraints)]
    if not meeting:
        raise UserInputError(
            f"no completed trial meets {' and '.join(map(str, constraints))}", field="--where"
        )
    candidates = [r for r in meeting if r.has_model and metric in r.metrics]
    if not candidates:
        raise UserInputError(
            "no trial meeting the constraints has a logged model (hpo logs a model only when "
            "a trial beats the best so far on the sweep objective)",
            field="--where",
        )
    sign = -1.0 if direction == "maximize" else 1.0
    tie_sign = -1.0 if objective_direction == "maximize" else 1.0

    def key(r: C) -> tuple[float, float, int]:
        tie = value_of(r.metrics, objective)
        return (sign * r.metrics[metric], math.inf if tie is None else tie_sign * tie, r.trial)

    return min(candidates, key=key)
