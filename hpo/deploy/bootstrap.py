"""95 % bootstrap confidence intervals of the test metrics, and the optimism of a promotion.

A test split of a few hundred rows gives an F1 that moves by a few points between
resamples; the model card says how much. Resampling test rows with replacement is the same
as drawing the cells of the confusion matrix from a multinomial with the observed
frequencies, so the 1,000 resamples are 1,000 confusion matrices computed at once (no
model, no per-resample scikit-learn call). The metrics follow scikit-learn's
`precision_recall_fscore_support(..., zero_division=0)`: a class absent from both the true
and the predicted labels of a resample is left out of its macro average, as scikit-learn
leaves it out. Percentile intervals.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

RESAMPLES = 1000
LEVEL = 0.95


def confusion_metrics(confusions: np.ndarray, average: str) -> dict[str, np.ndarray]:
    """accuracy, precision, recall, f1 of a stack of confusion matrices (b x k x k, rows:
    true class), each metric an array of b values."""
    c = confusions.astype(np.float64)
    tp = np.diagonal(c, axis1=1, axis2=2)
    true = c.sum(axis=2)
    predicted = c.sum(axis=1)
    n = c.sum(axis=(1, 2))
    accuracy = tp.sum(axis=1) / n
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, true, out=np.zeros_like(tp), where=true > 0)
    both = predicted + true
    f1 = np.divide(2 * tp, both, out=np.zeros_like(tp), where=both > 0)
    if average == "micro":
        return {"accuracy": accuracy, "precision": accuracy, "recall": accuracy, "f1": accuracy}
    if average == "binary":
        return {"accuracy": accuracy, "precision": precision[:, 1], "recall": recall[:, 1],
                "f1": f1[:, 1]}  # fmt: skip
    if average == "weighted":
        weights = true / true.sum(axis=1, keepdims=True)
    else:  # macro, over the labels present in the true or the predicted labels
        present = (both > 0).astype(np.float64)
        weights = present / present.sum(axis=1, keepdims=True)
    return {
        "accuracy": accuracy,
        "precision": (precision * weights).sum(axis=1),
        "recall": (recall * weights).sum(axis=1),
        "f1": (f1 * weights).sum(axis=1),
    }


def bootstrap_intervals(
    confusion: np.ndarray,
    average: str,
    *,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """`test_<metric>` -> (low, high): the percentile interval over `resamples` bootstrap
    resamples of the test rows summarised by `confusion`."""
    matrix = np.asarray(confusion, dtype=np.int64)
    k = matrix.shape[0]
    n = int(matrix.sum())
    rng = np.random.default_rng(seed)
    cells = rng.multinomial(n, matrix.ravel() / n, size=resamples).reshape(resamples, k, k)
    tail = (1 - level) / 2 * 100
    return {
        f"test_{name}": (float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail)))
        for name, v in confusion_metrics(cells, average).items()
    }


def optimism(
    validation: Mapping[str, float], test_metrics: Mapping[str, float]
) -> dict[str, float]:
    """Validation metric minus test metric, for every metric both have: how much the
    search's own score flattered the promoted model."""
    return {
        name.removeprefix("test_"): float(validation[name.removeprefix("test_")]) - float(value)
        for name, value in test_metrics.items()
        if name.removeprefix("test_") in validation
    }
