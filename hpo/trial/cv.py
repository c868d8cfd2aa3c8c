"""Cross-validated and repeated trials: k stratified folds of train + validation, r seeds.

Every strategy gets this: the experiment's `evaluation` section (or grid's `cv: k`, which
maps onto the same `Plan`) chooses it, never the strategy's name. Each fold run calls the
one "train on these rows, validate on those" function, `trial/pipeline.train_and_evaluate`,
on a view of the dataset, so a change to how a model is fitted lands in one place. The
trial's metrics are the mean over fold runs, `<metric>_std` their spread (population std,
as scikit-learn's `cv_results_`), and `<metric>_fold` the per-run values (step = run index:
repeat x folds + fold). The folds are seeded by the data seed, so every trial of a study is
scored on the same folds (a paired comparison, which `WilcoxonPruner` needs); the training
seed is the trial's, plus an offset per repeat. The test split is never touched.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hpo.data.splits import fold_indices
from hpo.trial.task import KerasFit, SklearnCV, Trained, TrialInputs, TrialResult, TrialRunner

if TYPE_CHECKING:
    from hpo.config.experiment import Experiment
    from hpo.data.dataset import Dataset

FOLD_SUFFIX = "_fold"  # per fold run, step = run index
STD_SUFFIX = "_std"
REPEAT_SEED_STRIDE = 7919  # repeat r trains with seed + r * stride (a prime: no trial's seed)


@dataclass(frozen=True)
class Plan:
    """How one trial is scored: `folds` (None: the validation split) x `repeats` seeds."""

    folds: int | None = None
    repeats: int = 1

    @property
    def active(self) -> bool:
        return self.folds is not None or self.repeats > 1

    @property
    def runs(self) -> int:
        return (self.folds or 1) * self.repeats

    def describe(self) -> str | int:
        """The resume record's `cv` value: as before for the plain cases."""
        base: str | int = self.folds if self.folds is not None else "validation"
        return base if self.repeats == 1 else f"{base} x{self.repeats} seeds"


def plan_for(experiment: Experiment, runner: TrialRunner) -> Plan:
    """The experiment's `evaluation`, with grid's `cv: k` (a runner option) as its folds."""
    folds = experiment.evaluation.cv
    if isinstance(runner, KerasFit) and runner.folds is not None:
        folds = runner.folds
    elif isinstance(runner, SklearnCV) and isinstance(runner.cv, int):  # an older spec
        folds = runner.cv
    return Plan(folds, experiment.evaluation.repeats)


def data_seed(experiment: Experiment) -> int:
    return experiment.data.seed if experiment.data.seed is not None else experiment.seed


def repeat_seed(seed: int, repeat: int) -> int:
    return seed + repeat * REPEAT_SEED_STRIDE


def fold_views(dataset: Dataset, folds: int | None, seed: int) -> list[Dataset]:
    """The datasets each fold trains and validates on (train + validation re-split into
    `folds` stratified folds; None: the dataset itself). Test rows are kept as they are."""
    if folds is None:
        return [dataset]
    x = np.concatenate([dataset.x_train, dataset.x_val])
    y = np.concatenate([dataset.y_train, dataset.y_val])
    return [
        dataclasses.replace(dataset, x_train=x[tr], y_train=y[tr], x_val=x[va], y_val=y[va])
        for tr, va in fold_indices(y, folds, seed)
    ]


def aggregate(
    per_run: Sequence[Mapping[str, float]],
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Mean and `<key>_std` of every key all runs have, and the per-run values."""
    keys = [k for k in per_run[0] if all(k in m for m in per_run[1:])]
    metrics: dict[str, float] = {}
    folds: dict[str, list[float]] = {}
    for key in keys:
        values = np.array([float(m[key]) for m in per_run])
        metrics[key] = float(values.mean())
        metrics[key + STD_SUFFIX] = float(values.std())
        folds[key + FOLD_SUFFIX] = [float(v) for v in values]
    return metrics, folds


class FoldReporter:
    """Reports to the trial's pruner after each fold run, and says when to stop.

    `WilcoxonPruner` gets each run's value at step = run index (the same fold for every
    trial, as its paired test needs); the other pruners get the running mean at step = runs
    done. Keras-free so it is testable."""

    def __init__(self, trial: Any, metric: str, *, paired: bool):
        self.trial, self.metric, self.paired = trial, metric, paired
        self.pruned_fold: int | None = None  # fold runs done when pruned

    def after_run(self, index: int, values: Sequence[float], *, last: bool = False) -> bool:
        """Report run `index` (0-based); the last run is reported but never pruned."""
        from hpo.study.retry import is_transient

        value = values[-1] if self.paired else float(np.mean(values))
        try:
            self.trial.report(value, step=index if self.paired else index + 1)
            prune = not last and bool(self.trial.should_prune())
        except Exception as err:  # the ledger database is restarting: not judged
            if not is_transient(err):
                raise
            return False
        if prune:
            self.pruned_fold = index + 1
        return prune


TrainOne = Callable[[TrialInputs], Trained]


def cross_validate(
    inputs: TrialInputs,
    plan: Plan,
    reporter: FoldReporter | None = None,
    train_one: TrainOne | None = None,
) -> Trained:
    """Train the trial once per fold and repeat; the result holds the aggregates. The model
    returned is the last run's (trained on that fold's rows; `hpo promote --refit` trains
    one on all of train + validation)."""
    if train_one is None:
        from hpo.trial.pipeline import train_and_evaluate

        train_one = train_and_evaluate
    started = time.perf_counter()
    views = fold_views(inputs.dataset, plan.folds, data_seed(inputs.experiment))
    metric = inputs.experiment.primary.metric
    total = TrialResult(state="FAIL", worker_pid=os.getpid())
    per_run: list[dict[str, float]] = []
    model: Any = None
    for index, (repeat, view) in enumerate(_runs(views, plan.repeats)):
        result, model = train_one(fold_inputs(inputs, view, repeat_seed(inputs.seed, repeat)))
        _add_costs(total, result)
        if result.state != "COMPLETE":
            total.error = f"fold run {index + 1} of {plan.runs}: {result.error}"
            total.trial_seconds = time.perf_counter() - started
            return total, None
        per_run.append(result.metrics)
        total.history = dict(result.history)  # the last run's learning curve
        total.epochs_run = result.epochs_run
        total.confusion = _summed(total.confusion, result.confusion)
        last = index + 1 == plan.runs
        values = [m[metric] for m in per_run if metric in m]
        if reporter is not None and values and reporter.after_run(index, values, last=last):
            break
    total.metrics, folds = aggregate(per_run)
    total.history.update(folds)
    total.state = "COMPLETE"
    total.trial_seconds = time.perf_counter() - started
    return total, model


def fold_inputs(inputs: TrialInputs, view: Dataset, seed: int) -> TrialInputs:
    """One fold run's inputs: its rows and seed, and no per-epoch callbacks (a fold run is
    judged by the pruner after it ends). Anything bound to the validation rows must be
    rebuilt here for `view`."""
    from hpo.trial.validation import EpochPredictions

    # the per-epoch validation pass is of this fold's validation rows
    predictions = EpochPredictions(view.x_val)
    return dataclasses.replace(
        inputs, dataset=view, seed=seed, callbacks=[], predictions=predictions
    )


def _runs(views: list[Dataset], repeats: int) -> Iterator[tuple[int, Dataset]]:
    for repeat in range(repeats):
        for view in views:
            yield repeat, view


def _add_costs(total: TrialResult, run: TrialResult) -> None:
    total.fit_seconds += run.fit_seconds
    total.predict_seconds += run.predict_seconds
    total.build_seconds += run.build_seconds
    total.n_params = run.n_params or total.n_params


def _summed(a: list[list[int]] | None, b: list[list[int]] | None) -> list[list[int]] | None:
    """Out-of-fold confusion: each fold's validation rows counted once per repeat."""
    if a is None or b is None:
        return b if a is None else a
    return [[x + y for x, y in zip(ra, rb, strict=True)] for ra, rb in zip(a, b, strict=True)]
