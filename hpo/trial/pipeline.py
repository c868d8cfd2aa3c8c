"""The trial pipeline: build -> fit -> evaluate, the one place every strategy trains.

It knows nothing of strategies or MLflow: parameters in, a `TrialResult` out (KerasTuner's
split of "what to try" from "how to train").
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from hpo.data.dataset import Dataset
from hpo.errors import first_line
from hpo.trial.predict import predict_proba, score_probabilities
from hpo.trial.task import Trained, TrialFailed, TrialInputs, TrialResult


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> list[list[int]]:
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(y_true, y_pred, labels=np.arange(n_classes))
    return [[int(v) for v in row] for row in matrix]


def builder_kwargs(builder: Callable[..., Any], dataset: Dataset) -> dict[str, Any]:
    """Keyword extras for a builder that asks for them: `x_train` (the train split only, so
    a vocabulary or normalization is never fitted on validation or test rows)."""
    import inspect

    try:
        accepted = inspect.signature(builder).parameters.values()
    except (TypeError, ValueError):  # a builtin or C callable: the plain signature
        return {}
    if any(p.name == "x_train" or p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted):
        return {"x_train": dataset.x_train}
    return {}


def train_and_evaluate(inputs: TrialInputs) -> Trained:
    """Run one trial; returns the result and the trained model (None if it failed)."""
    import keras

    experiment, dataset, params = inputs.experiment, inputs.dataset, inputs.params
    builder = inputs.builder
    started = time.perf_counter()
    result = TrialResult(state="FAIL", worker_pid=os.getpid())
    model = None
    try:
        # free_memory=True runs gc.collect(): 0.2-0.35 s a trial; recycled workers bound memory
        keras.backend.clear_session(free_memory=False)
        keras.utils.set_random_seed(inputs.seed)
        model = builder(
            params, dataset.input_shape, dataset.n_classes, **builder_kwargs(builder, dataset)
        )
        result.n_params = int(model.count_params())
        result.build_seconds = time.perf_counter() - started

        budget = experiment.budget
        callbacks: list[Any] = [keras.callbacks.TerminateOnNaN()]
        if budget.early_stopping_patience:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor="val_loss",
                    patience=budget.early_stopping_patience,
                    restore_best_weights=True,
                )
            )
        callbacks.extend(inputs.callbacks)
        fit_start = time.perf_counter()
        history = model.fit(
            dataset.x_train,
            dataset.y_train,
            validation_data=(dataset.x_val, dataset.y_val),
            epochs=budget.epochs,
            batch_size=int(params.get("batch_size", budget.batch_size)),
            callbacks=callbacks,
            verbose=0,
            shuffle=True,
        )
        result.fit_seconds = time.perf_counter() - fit_start
        result.history = {
            key: [float(v) for v in values]
            for key, values in history.history.items()
            if key in ("loss", "val_loss", "accuracy", "val_accuracy")
        }
        losses = result.history.get("loss", [])
        result.epochs_run = len(losses)
        if any(not math.isfinite(v) for v in losses):
            bad = next(i for i, v in enumerate(losses) if not math.isfinite(v))
            raise TrialFailed(f"loss became NaN at epoch {bad}")

        predict_start = time.perf_counter()
        objective = experiment.primary
        probs = predict_proba(model, dataset.x_val)
        result.predict_seconds = time.perf_counter() - predict_start
        result.metrics, y_pred = score_probabilities(
            probs,
            dataset.y_val,
            dataset.class_names,
            objective.average,
            objective.threshold_rule(),
            objective.metric,
        )
        result.confusion = confusion_counts(dataset.y_val, y_pred, dataset.n_classes)
        result.state = "COMPLETE"
    except TrialFailed as err:
        result.error = str(err)
        model = None
    except Exception as err:  # a user's builder can raise anything; the sweep goes on
        result.error = first_line(err, with_type=True)
        model = None
    result.trial_seconds = time.perf_counter() - started
    return result, model
