"""The one chunked predict: trial scoring, epoch pruning, promotion tests and export parity.

Direct calls (`model(x, training=False)`) in chunks are far cheaper than `model.predict` on
small data, and one chunk size everywhere means the sweep, `hpo promote` and `hpo export`
see the same numbers for the same model.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hpo.trial.task import TrialFailed

PREDICT_CHUNK = 4096


def _as_function(model_or_callable: Any) -> Callable[[np.ndarray], Any]:
    """A Keras model is called in inference mode; any other callable is called as given
    (an exported artefact's serving function, say)."""
    keras = sys.modules.get("keras")  # a Keras model implies keras is already imported
    if keras is not None and isinstance(model_or_callable, keras.Model):
        return lambda chunk: model_or_callable(chunk, training=False)
    function: Callable[[np.ndarray], Any] = model_or_callable
    return function


def predict_proba(model_or_callable: Any, x: np.ndarray) -> np.ndarray:
    """Class probabilities, one row per sample (float64), computed `PREDICT_CHUNK` rows at a
    time."""
    predict = _as_function(model_or_callable)
    chunks = []
    for start in range(0, len(x), PREDICT_CHUNK):
        rows = x[start : start + PREDICT_CHUNK]
        chunks.append(np.asarray(predict(rows), dtype=np.float64).reshape(len(rows), -1))
    if not chunks:
        return np.zeros((0, 0), dtype=np.float64)
    return np.concatenate(chunks)


def predict_labels(model: Any, x: np.ndarray) -> np.ndarray:
    """Class predictions; a model predicting NaN fails its trial rather than ranking NaN as
    class 0."""
    probs = predict_proba(model, x)
    if not np.isfinite(probs).all():
        raise TrialFailed("the model predicts NaN")
    return probs.argmax(axis=1)


def score_probabilities(
    probs: np.ndarray,
    y: np.ndarray,
    class_names: Sequence[str],
    average: str,
    threshold_rule: Any = None,
    metric: str = "f1",
) -> tuple[dict[str, float], np.ndarray]:
    """A trial's validation metrics from its class probabilities (one predict, every
    metric) and the labels they stand for: with a threshold rule (binary only) the
    threshold is tuned on these rows first, and the labels and metrics are at it."""
    from hpo.scoring import ThresholdRule, evaluate, labels_at, tune_threshold, two_columns

    if not np.isfinite(probs).all():
        raise TrialFailed("the model predicts NaN")
    probs = two_columns(probs)
    threshold = None
    if threshold_rule is not None and probs.shape[1] == 2:
        rule = ThresholdRule.parse(threshold_rule, metric, average)
        threshold, _ = tune_threshold(y, probs[:, 1], rule)
    return evaluate(y, probs, class_names, average, threshold), labels_at(probs, threshold)


def evaluate(
    model: Any, x: np.ndarray, y: np.ndarray, average: str, threshold: float | None = None
) -> tuple[dict[str, float], np.ndarray]:
    """Test metrics (`test_` + the sweep's metric names, same averaging, at the trial's
    decision threshold when it has one) and the confusion matrix (rows: true class), as
    `hpo promote` records them."""
    from sklearn.metrics import confusion_matrix

    from hpo.metrics import classification_metrics
    from hpo.scoring import labels_at, two_columns

    probs = two_columns(predict_proba(model, x))
    predicted = labels_at(probs, threshold)
    metrics = {f"test_{k}": v for k, v in classification_metrics(y, predicted, average).items()}
    return metrics, confusion_matrix(y, predicted, labels=np.arange(probs.shape[1]))
