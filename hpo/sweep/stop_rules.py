"""`budget.stop_when`: end a sweep that stopped learning, from the study's standing alone.

A rule is a pure function of the trials in the ledger (every worker's), so each orchestrator
on a shared study evaluates the same rule on the same snapshot and they all stop together;
nothing is trained or read for it. The loop asks once per iteration (hpo.sweep.loop); once
a rule fires no new trial starts, the trials in flight finish, and the sweep ends FINISHED
with the rule's name in the tag `hpo.stop_reason`.

The trials are taken in trial-number order (the same order for every worker, whichever
finished first), on the primary objective, among trials that meet the constraints.

`no_improvement`: N counted trials in a row (complete, pruned or failed) did not beat the
best before them by more than `min_delta`.

`noise_aware`: stop when the improvement still to be expected is smaller than the noise of
the score itself. The noise is the bootstrap standard deviation of the best trial's
validation score (`score_std`, resampled from its validation confusion matrix in the
training process, hpo/trial/score_noise.py): two models whose scores differ by less than
that cannot be told apart on this validation set, so chasing such a difference is
selection on noise. Without it (a runner that has no confusion matrix) the spread of the
five best scores stands in. The expected improvement extrapolates the recent rate: what the
best gained over the last `window` trials (half the trials so far, at least `min_trials`),
per trial, times the trials the budget has left. A sweep still improving steadily keeps
going; one whose best has been flat, or creeps up by less than the noise over the rest of
the budget, stops.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hpo.config.experiment import Experiment
    from hpo.config.stop_when import StopWhen
    from hpo.study.ledger import LedgerTrial

NO_IMPROVEMENT = "no_improvement"
NOISE_AWARE = "noise_aware"
SCORE_STD = "score_std"  # the ledger metric a trial's bootstrap noise is kept under


@dataclass(frozen=True)
class Stop:
    """Why a sweep stops early: `reason` is the rule's name (the tag), `detail` a sentence."""

    reason: str
    detail: str


@dataclass(frozen=True)
class Point:
    """One counted trial as a rule sees it: its objective value (None: no usable score)."""

    number: int
    value: float | None
    noise: float | None = None


def points(trials: Sequence[LedgerTrial], experiment: Experiment) -> list[Point]:
    """The counted trials in number order, with the primary value of the feasible ones."""
    metric = experiment.primary.metric
    out = []
    for trial in sorted(trials, key=lambda t: t.number):
        if not trial.counts_toward_budget:
            continue
        value = trial.metrics.get(metric) if trial.state == "COMPLETE" else None
        feasible = all(c.holds(trial.metrics.get(c.metric)) for c in experiment.constraints)
        if value is not None and (not math.isfinite(value) or not feasible):
            value = None
        out.append(Point(trial.number, value, trial.metrics.get(SCORE_STD)))
    return out


def should_stop(
    trials: Sequence[LedgerTrial], experiment: Experiment, budget: int | None = None
) -> Stop | None:
    """The first rule of `budget.stop_when` that holds on these trials, else None."""
    rules = experiment.budget.stop_when
    if rules is None:
        return None
    maximize = experiment.primary.direction == "maximize"
    taken = sum(t.counts_toward_budget or t.state == "RUNNING" for t in trials)
    left = (budget or experiment.budget.trials) - taken  # places a new trial could take
    return evaluate(points(trials, experiment), rules, maximize=maximize, trials_left=left)


def evaluate(
    seen: Sequence[Point], rules: StopWhen, *, maximize: bool, trials_left: int
) -> Stop | None:
    """`should_stop` on plain points (what the benchmark replays)."""
    if len(seen) < rules.min_trials or trials_left <= 0:
        return None
    if rules.no_improvement is not None:
        stop = no_improvement(
            seen, rules.no_improvement.trials, rules.no_improvement.min_delta, maximize
        )
        if stop is not None:
            return stop
    if rules.noise_aware:
        return noise_aware(seen, maximize, trials_left, rules.min_trials)
    return None


def _gain(new: float, old: float, maximize: bool) -> float:
    return new - old if maximize else old - new


def best_curve(seen: Sequence[Point], maximize: bool) -> list[float | None]:
    """The best value after each point (None until a point has one)."""
    best: float | None = None
    curve: list[float | None] = []
    for point in seen:
        if point.value is not None and (best is None or _gain(point.value, best, maximize) > 0):
            best = point.value
        curve.append(best)
    return curve


def no_improvement(
    seen: Sequence[Point], patience: int, min_delta: float, maximize: bool
) -> Stop | None:
    """`patience` points in a row without beating the best so far by more than `min_delta`."""
    best: float | None = None
    since = 0  # points since the last one that improved enough
    for point in seen:
        value = point.value
        if value is not None and (best is None or _gain(value, best, maximize) > min_delta):
            best, since = value, 0
        else:
            since += 1
    if best is None or since < patience:
        return None
    by = f" by more than {min_delta:g}" if min_delta else ""
    trials = "1 trial" if since == 1 else f"{since} trials in a row"
    return Stop(NO_IMPROVEMENT, f"{trials} did not improve the best ({best:g}){by}")


def noise(seen: Sequence[Point], maximize: bool) -> float | None:
    """The best point's bootstrap std, else the spread of the five best values."""
    scored = [(p.value, p) for p in seen if p.value is not None]
    if not scored:
        return None
    scored.sort(key=lambda pair: pair[0], reverse=maximize)
    ranked = [p for _, p in scored]
    if ranked[0].noise is not None and math.isfinite(ranked[0].noise):
        return ranked[0].noise
    top = [p.value for p in ranked[:5] if p.value is not None]
    return statistics.stdev(top) if len(top) >= 5 else None


def noise_aware(
    seen: Sequence[Point], maximize: bool, trials_left: int, min_window: int
) -> Stop | None:
    """The expected further gain (recent rate x trials left) is below the score's noise."""
    sigma = noise(seen, maximize)
    curve = best_curve(seen, maximize)
    if sigma is None or curve[-1] is None:
        return None
    window = max(min_window, len(seen) // 2)
    if len(seen) <= window:
        return None
    then, now = curve[-1 - window], curve[-1]
    if then is None:  # nothing scored before the window: no rate to extrapolate yet
        return None
    gained = _gain(now, then, maximize)
    expected = gained / window * trials_left
    if expected > sigma:
        return None
    return Stop(
        NOISE_AWARE,
        f"the best ({now:g}) gained {gained:.4g} in the last {window} trials: at that "
        f"rate {trials_left} more trials add ~{expected:.2g}, below the score's noise "
        f"(std {sigma:.2g})",
    )
