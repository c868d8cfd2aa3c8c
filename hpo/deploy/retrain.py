"""Retraining chosen configurations in a training process, as a sweep trains its trials.

`hpo promote --reevaluate/--refit` trains with the sweep's own machinery (hpo/sweep/pool's
`TrialExecutor`, hpo/trial/worker's `run_task`), so a retrain is the very trial pipeline,
in a process of its own, and TensorFlow's memory goes with that process.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hpo.config.experiment import Budget, Evaluation, Experiment, StrategyConfig
from hpo.data.dataset import Dataset
from hpo.trial.task import LedgerRef, TrialResult, TrialTask

Job = tuple[Mapping[str, Any], int]  # (parameters, Keras seed)


def retraining_setup(
    experiment: Experiment,
    *,
    epochs: int | None = None,
    evaluation: Evaluation | None = None,
) -> Experiment:
    """The sweep's experiment for retraining: no pruning (no ledger), one seed per run; with
    `epochs` a fixed number of epochs and no early stopping (a refit has no validation)."""
    budget: Budget = experiment.budget
    if epochs is not None:
        budget = budget.model_copy(update={"epochs": epochs, "early_stopping_patience": None})
    strategy: StrategyConfig = experiment.strategy.model_copy(update={"pruner": "none"})
    evaluation = evaluation or experiment.evaluation.model_copy(update={"repeats": 1})
    return experiment.model_copy(
        update={"budget": budget, "strategy": strategy, "evaluation": evaluation}
    )


def run_jobs(
    experiment: Experiment,
    dataset: Dataset,
    jobs: Sequence[Job],
    on_result: Callable[[int, TrialResult], None],
) -> None:
    """Train every job in one training process, in order; `on_result(index, result)` gets
    each result while its saved model (`result.model_dir`) still exists."""
    from hpo.sweep.pool import TrialExecutor

    setup = experiment.model_copy(
        update={"budget": experiment.budget.model_copy(update={"trials": max(len(jobs), 1)})}
    )
    with tempfile.TemporaryDirectory(prefix="hpo-retrain-") as root:
        executor = TrialExecutor(setup, dataset, root, workers=1, ledger=LedgerRef(None, "-"))
        try:
            futures = [
                executor.submit(TrialTask(i, dict(params), seed, None, save_model=True))
                for i, (params, seed) in enumerate(jobs)
            ]
            for index, future in enumerate(futures):
                on_result(index, future.result())
        finally:
            executor.kill()
