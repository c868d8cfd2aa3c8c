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

from hpo.data.class_weight import class_weights
from hpo.data.dataset import Dataset
from hpo.errors import first_line
from hpo.models.augment import without_augmentation
from hpo.trial.predict import predict_proba, score_probabilities
from hpo.trial.preprocessing import with_input_scaling
from hpo.trial.streaming import fit_streaming, is_streamed
from hpo.trial.task import Trained, TrialFailed, TrialInputs, TrialResult
from hpo.trial.validation import EpochPredictions, validation_callback


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
        from hpo.trial.preprocessing import builder_x_train

        return {"x_train": builder_x_train(dataset)}
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
        model = with_input_scaling(model, dataset.scaling)  # the saved model takes raw rows
        result.build_seconds = time.perf_counter() - started

        budget = experiment.budget
        # val_loss/val_accuracy from one inference pass per epoch, before anything reads them
        # (hpo/trial/validation.py: `validation_data=` traces an evaluate function per model)
        callbacks: list[Any] = [
            keras.callbacks.TerminateOnNaN(),
            validation_callback(
                inputs.predictions or EpochPredictions(dataset.x_val), dataset.y_val
            ),
        ]
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
        weights = class_weights(params.get("class_weight"), dataset.y_train, dataset.n_classes)
        if is_streamed(dataset):  # image files: tf.data, never the whole split in memory
            history = fit_streaming(
                model,
                dataset,
                epochs=budget.epochs,
                batch_size=int(params.get("batch_size", budget.batch_size)),
                callbacks=callbacks,
                seed=inputs.seed,
                class_weight=weights,
            )
        else:
            history = model.fit(
                dataset.x_train,
                dataset.y_train,
                epochs=budget.epochs,
                batch_size=int(params.get("batch_size", budget.batch_size)),
                class_weight=weights,
                callbacks=callbacks,
                verbose=0,
                shuffle=True,
            )
        result.fit_seconds = time.perf_counter() - fit_start
        model = without_augmentation(model)  # augment_* layers act only while training
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
