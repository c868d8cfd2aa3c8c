"""Validation metrics, computed with scikit-learn the same way for every strategy."""

from __future__ import annotations

import numpy as np

METRIC_NAMES = ("accuracy", "precision", "recall", "f1")


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, average: str
) -> dict[str, float]:
    """accuracy, precision, recall and f1; zero_division=0 so a degenerate model scores 0."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, average=average, zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
    }
