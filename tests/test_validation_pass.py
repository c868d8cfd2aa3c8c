"""Per-epoch validation without `fit(validation_data=...)` (hpo/trial/validation.py): the
logged `val_loss` and `val_accuracy` are what `model.evaluate` gives on the same weights,
EarlyStopping and the pruner still read them, and one inference pass serves both."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from hpo.trial.validation import (
    EpochPredictions,
    epoch_metrics,
    sparse_categorical_crossentropy,
    validation_callback,
)
from tests.conftest import import_or_skip_unless_ci

keras = import_or_skip_unless_ci("keras", install="pip install -e .")


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(240, 6)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    return x[:180], y[:180], x[180:], y[180:]


def _model(l2: float) -> Any:
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(16, activation="relu", kernel_regularizer=keras.regularizers.L2(l2)),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=4,
    )
    return model


def test_the_loss_matches_keras_on_fixed_probabilities() -> None:
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    labels = np.array([0, 1, 1, 1])
    expected = keras.losses.SparseCategoricalCrossentropy()(labels, probs.astype(np.float32))
    assert sparse_categorical_crossentropy(labels, probs) == pytest.approx(
        float(expected), rel=1e-5
    )


def test_each_epoch_logs_what_evaluate_gives_on_the_same_weights() -> None:
    x_train, y_train, x_val, y_val = _data()
    model = _model(l2=0.01)
    evaluated: list[tuple[float, float]] = []
    logged: list[tuple[float, float]] = []

    class Check(keras.callbacks.Callback):  # after the validation callback, as EarlyStopping
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            assert logs is not None
            logged.append((logs["val_loss"], logs["val_accuracy"]))
            loss, accuracy = self.model.evaluate(x_val, y_val, verbose=0)
            evaluated.append((loss, accuracy))

    history = model.fit(
        x_train,
        y_train,
        epochs=2,
        batch_size=32,
        verbose=0,
        callbacks=[validation_callback(EpochPredictions(x_val), y_val), Check()],
    )
    assert len(logged) == 2
    for (loss, accuracy), (want_loss, want_accuracy) in zip(logged, evaluated, strict=True):
        assert loss == pytest.approx(want_loss, rel=1e-4, abs=1e-6)
        assert accuracy == pytest.approx(want_accuracy, abs=1e-6)  # Keras: float32
    # the History callback (the logged curve) holds the same numbers
    assert history.history["val_loss"] == [loss for loss, _ in logged]
    # the regularization penalty is part of val_loss, as in evaluate
    probs = model(x_val, training=False).numpy()
    assert logged[-1][0] > sparse_categorical_crossentropy(y_val, probs) + 1e-4


def test_early_stopping_reads_the_callbacks_val_loss() -> None:
    x_train, y_train, x_val, y_val = _data()
    model = _model(0.0)
    model.optimizer.learning_rate.assign(0.0)  # nothing improves: stop after patience
    history = model.fit(
        x_train,
        y_train,
        epochs=10,
        batch_size=32,
        verbose=0,
        callbacks=[
            validation_callback(EpochPredictions(x_val), y_val),
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=2),
        ],
    )
    assert len(history.history["val_loss"]) == 3  # best at epoch 1, then 2 without progress


def test_one_inference_pass_per_epoch_serves_validation_and_pruning() -> None:
    x_train, y_train, x_val, y_val = _data()
    model = _model(0.0)
    calls = 0
    predictions = EpochPredictions(x_val)
    import hpo.trial.validation as validation

    real_predict = validation.predict_proba

    def counted(model: Any, x: np.ndarray) -> np.ndarray:
        nonlocal calls
        calls += 1
        return real_predict(model, x)

    labels_seen: list[np.ndarray] = []

    class Pruner(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            labels_seen.append(predictions.labels(self.model))

    validation.predict_proba = counted  # type: ignore[assignment]
    try:
        model.fit(
            x_train,
            y_train,
            epochs=2,
            batch_size=32,
            verbose=0,
            callbacks=[validation_callback(predictions, y_val), Pruner()],
        )
    finally:
        validation.predict_proba = real_predict  # type: ignore[assignment]
    assert calls == 2  # one pass per epoch, shared
    assert len(labels_seen) == 2
    # and the pass is of the current weights: a further step changes the key
    model.fit(x_train, y_train, epochs=1, batch_size=32, verbose=0)
    np.testing.assert_array_equal(
        predictions.labels(model), model(x_val, training=False).numpy().argmax(axis=1)
    )


def test_nan_predictions_give_a_nan_loss_not_a_crash() -> None:
    probs = np.full((3, 2), np.nan)
    metrics = epoch_metrics(None, probs, np.array([0, 1, 0]))
    assert np.isnan(metrics["val_loss"]) and np.isnan(metrics["val_accuracy"])
