"""Validation metrics, computed with scikit-learn the same way for every strategy.

The metric names live here once: the config's objective and constraint fields, the tables,
the model card and the tracking schema all take them from this module. numpy and
scikit-learn are imported only for type checking or inside the function, so reading the
names costs nothing (the config imports them at `hpo validate` time).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    import numpy as np

ScoreName = Literal["accuracy", "precision", "recall", "f1"]
CostName = Literal["n_params", "fit_seconds"]

# validation scores (higher is better), in the order every table shows them
METRIC_NAMES: tuple[str, ...] = get_args(ScoreName)
# costs a trial can be optimised or constrained on (lower is better)
COST_METRICS: tuple[str, ...] = get_args(CostName)
# training losses (logged per epoch): lower is better
LOSSES = ("loss", "val_loss")

# the comparisons a constraint or a where-clause may use, each defined once
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}


def lower_is_better(metric: str) -> bool:
    """Losses, costs and durations go down; every other metric (a score) goes up."""
    return metric in LOSSES or metric in COST_METRICS or metric.endswith("_seconds")


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
