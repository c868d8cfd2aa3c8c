"""How noisy a trial's validation score is: a bootstrap from its confusion matrix.

Resampling the validation pairs (true, predicted) with replacement is the same as drawing
the confusion matrix's cells from a multinomial with the observed cell frequencies, so the
bootstrap needs only the matrix the trial already returns (no predictions cross the
process boundary) and costs milliseconds. The noise-aware stop rule (hpo/sweep/stop_rules.py)
compares the improvement it still expects with this standard deviation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# the scores a confusion matrix determines (hpo.metrics.ScoreName)
FROM_CONFUSION = ("accuracy", "precision", "recall", "f1")


def scores_from_counts(counts: np.ndarray, metric: str, average: str) -> np.ndarray:
    """`metric` of each confusion matrix in `counts` (shape (B, k, k), rows: true class),
    as scikit-learn computes it (zero_division=0, classes never seen nor predicted left out
    of the macro average)."""
    counts = counts.astype(float)
    total = counts.sum(axis=(1, 2))
    tp = np.diagonal(counts, axis1=1, axis2=2)
    support = counts.sum(axis=2)  # true per class
    predicted = counts.sum(axis=1)
    if metric == "accuracy" or (average == "micro"):
        return np.asarray(tp.sum(axis=1) / np.maximum(total, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    per_class = {"precision": precision, "recall": recall, "f1": f1}[metric]
    if average == "binary":
        return np.asarray(per_class[:, 1])
    if average == "weighted":
        return np.asarray((per_class * support).sum(axis=1) / np.maximum(support.sum(axis=1), 1))
    present = (support + predicted) > 0
    return np.asarray((per_class * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1))


def bootstrap_std(
    confusion: Sequence[Sequence[int]],
    metric: str,
    average: str,
    *,
    rounds: int = 300,
    seed: int = 0,
) -> float | None:
    """The bootstrap standard deviation of `metric` on this validation set (None: the metric
    is not a function of the confusion matrix, or the matrix is empty)."""
    if metric not in FROM_CONFUSION:
        return None
    matrix = np.asarray(confusion, dtype=np.int64)
    n = int(matrix.sum())
    if n == 0 or matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        return None
    k = matrix.shape[0]
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, matrix.ravel() / n, size=rounds).reshape(rounds, k, k)
    return float(np.std(scores_from_counts(draws, metric, average), ddof=1))
