"""`hpo promote --refit`: the chosen configuration trained on train + validation.

Search held the validation rows out to compare trials; once the configuration is chosen
they are only more training data. The refit trains for the trial's best epoch when early
stopping ran (the epoch whose weights it restored, from its `val_loss` curve), else the
configured epochs, with the trial's own seed, in a training process; the test split is
still untouched until the test evaluation. The refit is a child run of the trial run
(`hpo.kind=retrain`, `hpo.refit=true`, metric `train_rows`) holding the model registered.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hpo.config.experiment import Evaluation, Experiment
from hpo.data.dataset import Dataset
from hpo.errors import UserInputError
from hpo.tracking.reads import TrialRecord

if TYPE_CHECKING:
    from hpo.tracking.lineage import TrainedOn


def refit_epochs(experiment: Experiment, val_loss: Sequence[float]) -> int:
    """The best epoch (1-based) when early stopping ran, else the configured epochs."""
    if experiment.budget.early_stopping_patience and len(val_loss):
        return int(np.nanargmin(np.asarray(val_loss, dtype=float))) + 1
    return experiment.budget.epochs


def refit_dataset(dataset: Dataset) -> Dataset:
    """Train on train + validation. The validation rows stay as Keras' `validation_data`
    (reported only: no early stopping, no decision is taken on them); test is unchanged."""
    return dataclasses.replace(
        dataset,
        x_train=np.concatenate([dataset.x_train, dataset.x_val]),
        y_train=np.concatenate([dataset.y_train, dataset.y_val]),
    )


@dataclasses.dataclass(frozen=True)
class Refit:
    run_id: str
    epochs: int
    rows: int


def refit(
    record: TrialRecord,
    params: Mapping[str, Any],
    trained: TrainedOn,
    tracking_uri: str | None,
) -> Refit:
    from hpo.deploy.retrain import retraining_setup, run_jobs
    from hpo.tracking.reads import mlflow_client
    from hpo.tracking.retrains import log_retrain, metric_history
    from hpo.tracking.store import existing_tracking_uri

    client = mlflow_client(existing_tracking_uri(tracking_uri))
    experiment = trained.experiment
    epochs = refit_epochs(experiment, metric_history(client, record.run_id, "val_loss"))
    setup = retraining_setup(experiment, epochs=epochs, evaluation=Evaluation())
    data = refit_dataset(trained.dataset)
    seed = experiment.seed + record.trial  # the trial's own seed
    done: list[str] = []

    def logged(index: int, result: Any) -> None:
        if result.state != "COMPLETE" or result.model_dir is None:
            raise UserInputError(
                f"the refit of trial {record.trial} failed: {result.error or 'no model'}",
                field="--refit",
            )
        done.append(
            log_retrain(
                client,
                record.run_id,
                trial=record.trial,
                seed=seed,
                metrics={"epochs": float(epochs)},
                model_dir=result.model_dir,
                refit=True,
                rows=len(data.y_train),
            )
        )

    run_jobs(setup, data, [(params, seed)], logged)
    return Refit(done[0], epochs, len(data.y_train))
