"""A sweep's trials as plot axes, and as the in-memory Optuna study the pictures are drawn from.

MLflow keeps params as text; the search space says how to read them back. Optuna's plotting
and fANOVA want a `Study`, so `trials_study` rebuilds one in memory (`create_trial` +
`add_trials`) from plain values: the same for every strategy, and no ledger is touched.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpo.config.space import Param

if TYPE_CHECKING:
    import optuna

FEW_TRIALS = 100  # fANOVA with Optuna's default forest up to here (under 1 s)


@dataclass(frozen=True)
class Axis:
    """One parameter as numbers (categorical: the choice's index) for plotting."""

    name: str
    values: tuple[float | None, ...]  # one per record, None when the parameter was inactive
    log: bool = False
    labels: tuple[str, ...] | None = None  # categorical choices, in index order
    param: Param | None = None

    @property
    def categorical(self) -> bool:
        return self.labels is not None

    def native(self, index: int) -> Any:
        """The value as the search space knows it (for rebuilding an Optuna trial)."""
        value = self.values[index]
        if value is None:
            return None
        if self.param is not None and self.param.kind == "categorical":
            return self.param.choices[int(value)]
        if self.labels is not None:
            return self.labels[int(value)]
        if self.param is not None and self.param.kind == "int":
            return int(value)
        return float(value)


def _number(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def build_axes(
    params: Sequence[Mapping[str, str]], space: Mapping[str, Param] | None = None
) -> list[Axis]:
    """One axis per searched parameter (fixed ones and single-valued ones dropped).

    MLflow stores params as strings; the search space (when known) says how to read them
    back and which are on a log scale. Without it, numbers are numeric and the rest categorical.
    """
    names = sorted({k for p in params for k in p})
    axes = []
    for name in names:
        raw = [p.get(name) for p in params]
        param = space.get(name) if space else None
        if param is not None and param.kind == "fixed":
            continue
        if param is not None and param.kind == "categorical":
            labels = tuple(str(c) for c in param.choices)
            values = tuple(float(labels.index(r)) if r in labels else None for r in raw)
            axis = Axis(name, values, labels=labels, param=param)
        elif param is not None or all(_number(r) is not None for r in raw if r is not None):
            values = tuple(_number(r) for r in raw)
            axis = Axis(name, values, log=bool(param and param.log), param=param)
        else:
            labels = tuple(sorted({r for r in raw if r is not None}))
            values = tuple(float(labels.index(r)) if r is not None else None for r in raw)
            axis = Axis(name, values, labels=labels)
        if len({v for v in axis.values if v is not None}) > 1 or (
            param is not None and param.kind != "fixed"
        ):
            axes.append(axis)
    return axes


def _distributions(axes: Sequence[Axis]) -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    from hpo.study.distributions import distribution

    found: dict[str, Any] = {}
    for a in axes:
        if a.param is not None:
            found[a.name] = distribution(a.param)
        elif a.categorical:
            found[a.name] = CategoricalDistribution(a.labels or ())
        else:
            known = [v for v in a.values if v is not None]
            found[a.name] = FloatDistribution(min(known), max(known))
    return found


def trials_study(
    axes: Sequence[Axis],
    values: Sequence[float | None],
    direction: str = "maximize",
    trial_numbers: Sequence[int] | None = None,
) -> optuna.Study:
    """An in-memory study with one COMPLETE trial per scored value.

    Optuna numbers trials in the order they are added; a FAIL placeholder fills every gap in
    `trial_numbers`, so trial n in a picture is trial n of the sweep.
    """
    import optuna
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    distributions = _distributions(axes)
    numbers = list(trial_numbers) if trial_numbers is not None else list(range(len(values)))
    scored: dict[int, optuna.trial.FrozenTrial] = {}
    for i, (number, value) in enumerate(zip(numbers, values, strict=True)):
        if value is None:
            continue
        params = {a.name: a.native(i) for a in axes if a.values[i] is not None}
        scored[number] = create_trial(
            params=params, distributions={k: distributions[k] for k in params}, value=value
        )
    study = optuna.create_study(direction="maximize" if direction == "maximize" else "minimize")
    last = max(scored, default=-1)
    study.add_trials(
        [scored.get(n) or create_trial(state=TrialState.FAIL) for n in range(last + 1)]
    )
    return study


def param_importances(
    axes: Sequence[Axis], values: Sequence[float | None], direction: str
) -> dict[str, float]:
    """fANOVA importances (`optuna.importance`, seeded) of the scored trials.

    Only trials with a score and every parameter set take part (Optuna's rule: conditional
    parameters are left out). Empty when there are too few trials to say anything.
    """
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    scored = sum(v is not None for v in values)
    if scored < 2:
        return {}
    study = trials_study(axes, values, direction)
    # Optuna's 64 trees up to FEW_TRIALS; past that 16, 3.6x faster (7.7 s -> 2.1 s on a
    # 300-trial sample, 2 busy cores) with importances within 0.03 of the 64 trees' there,
    # less than the sample's own spread (reporting/sample.py)
    trees = 64 if scored <= FEW_TRIALS else 16
    try:
        found = get_param_importances(
            study, evaluator=FanovaImportanceEvaluator(n_trees=trees, seed=0)
        )
    except (ValueError, RuntimeError):  # e.g. no parameter common to all trials
        return {}
    return {k: float(v) for k, v in found.items()}


__all__ = ["Axis", "build_axes", "param_importances", "trials_study"]
