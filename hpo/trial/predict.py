"""The one chunked predict: trial scoring, epoch pruning, promotion tests and export parity.

Direct calls (`model(x, training=False)`) in chunks are far cheaper than `model.predict` on
small data, and one chunking rule everywhere means the sweep, `hpo promote` and `hpo export`
see the same numbers for the same model.

A chunk is at most `PREDICT_CHUNK` rows and at most `PREDICT_CHUNK_BYTES` of input values
(as float32): tabular rows go 4,096 at a time, 64x64 RGB images 170 at a time. A model's
activations grow with the chunk (a 16-filter conv layer on 1,000 such images is 260 MB), so
a count alone made an image trial's memory grow with its validation split (measured:
peak RSS 1.84x for 5,000 vs 500 images, docs/benchmarks.md).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hpo.trial.task import TrialFailed

PREDICT_CHUNK = 4096
PREDICT_CHUNK_BYTES = 8 * 2**20


def chunk_rows(x: Any) -> int:
    """Rows per predict call for `x`: `PREDICT_CHUNK`, fewer for wide rows (images)."""
    shape = getattr(x, "shape", None) or np.shape(x)
    values_per_row = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    return max(1, min(PREDICT_CHUNK, PREDICT_CHUNK_BYTES // (4 * max(values_per_row, 1))))


def _as_function(model_or_callable: Any) -> Callable[[np.ndarray], Any]:
    """A Keras model is called in inference mode; any other callable is called as given
    (an exported artefact's serving function, say)."""
    keras = sys.modules.get("keras")  # a Keras model implies keras is already imported
    if keras is not None and isinstance(model_or_callable, keras.Model):
        return lambda chunk: model_or_callable(chunk, training=False)
    function: Callable[[np.ndarray], Any] = model_or_callable
    return function


def predict_proba(model_or_callable: Any, x: np.ndarray) -> np.ndarray:
    """Class probabilities, one row per sample (float64), computed `chunk_rows(x)` rows at
    a time (an image folder's rows are decoded a chunk at a time too)."""
    predict = _as_function(model_or_callable)
    step = chunk_rows(x)
    chunks = []
    for start in range(0, len(x), step):
        rows = x[start : start + step]
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
