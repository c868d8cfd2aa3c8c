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

ScoreName = Literal[
    "accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss", "brier", "ece"
]
CostName = Literal["n_params", "fit_seconds"]

# every validation score an objective, constraint or `--where` may name
SCORE_NAMES: tuple[str, ...] = get_args(ScoreName)
# the label scores (higher is better), in the order every table shows them
METRIC_NAMES: tuple[str, ...] = SCORE_NAMES[:4]
# costs a trial can be optimised or constrained on (lower is better)
COST_METRICS: tuple[str, ...] = get_args(CostName)
# training losses (logged per epoch): lower is better
LOSSES = ("loss", "val_loss")
# validation scores of the probabilities where lower is better (hpo/scoring.py computes them)
LOWER_SCORES = ("log_loss", "brier", "ece")

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
    return (
        metric in LOSSES
        or metric in COST_METRICS
        or metric.endswith("_seconds")
        or metric.removeprefix("test_") in LOWER_SCORES
    )


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, average: str
) -> dict[str, float]:
    """accuracy, precision, recall and f1; zero_division=0 so a degenerate model scores 0.
    Every other metric needs probabilities: hpo.scoring.evaluate."""
    from hpo.scoring import label_metrics

    return label_metrics(y_true, y_pred, average)
