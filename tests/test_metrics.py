"""Unit tests for validation metrics against hand-computed values."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from hpo.metrics import METRIC_NAMES, classification_metrics

# Per class for this pair (support 3, 2, 1):
#   class 0: TP 2, FP 0, FN 1 -> P 1,   R 2/3, F1 0.8
#   class 1: TP 1, FP 1, FN 1 -> P 1/2, R 1/2, F1 0.5
#   class 2: TP 1, FP 1, FN 0 -> P 1/2, R 1,   F1 2/3
Y_TRUE = np.array([0, 0, 0, 1, 1, 2])
Y_PRED = np.array([0, 0, 1, 1, 2, 2])


def _approx(expected: dict[str, float]) -> dict[str, object]:
    return {k: pytest.approx(v, abs=1e-9) for k, v in expected.items()}


def test_keys_and_types() -> None:
    result = classification_metrics(Y_TRUE, Y_PRED, "macro")
    assert tuple(result) == METRIC_NAMES
    assert all(type(v) is float for v in result.values())


def test_macro() -> None:
    assert classification_metrics(Y_TRUE, Y_PRED, "macro") == _approx(
        {
            "accuracy": 4 / 6,
            "precision": (1 + 0.5 + 0.5) / 3,
            "recall": (2 / 3 + 0.5 + 1) / 3,
            "f1": (0.8 + 0.5 + 2 / 3) / 3,
        }
    )


def test_weighted() -> None:
    assert classification_metrics(Y_TRUE, Y_PRED, "weighted") == _approx(
        {
            "accuracy": 4 / 6,
            "precision": (3 * 1 + 2 * 0.5 + 1 * 0.5) / 6,
            "recall": (3 * 2 / 3 + 2 * 0.5 + 1 * 1) / 6,
            "f1": (3 * 0.8 + 2 * 0.5 + 1 * 2 / 3) / 6,
        }
    )


def test_micro_equals_accuracy_for_single_label() -> None:
    assert classification_metrics(Y_TRUE, Y_PRED, "micro") == _approx(
        {"accuracy": 4 / 6, "precision": 4 / 6, "recall": 4 / 6, "f1": 4 / 6}
    )


def test_binary_scores_the_positive_class() -> None:
    # TP 1, FP 1, FN 2, TN 2
    y_true = np.array([1, 1, 1, 0, 0, 0])
    y_pred = np.array([1, 0, 0, 0, 0, 1])
    assert classification_metrics(y_true, y_pred, "binary") == _approx(
        {"accuracy": 3 / 6, "precision": 1 / 2, "recall": 1 / 3, "f1": 2 * (1 / 6) / (5 / 6)}
    )


def test_averages_differ_on_imbalanced_data() -> None:
    macro = classification_metrics(Y_TRUE, Y_PRED, "macro")["f1"]
    weighted = classification_metrics(Y_TRUE, Y_PRED, "weighted")["f1"]
    micro = classification_metrics(Y_TRUE, Y_PRED, "micro")["f1"]
    assert len({round(macro, 9), round(weighted, 9), round(micro, 9)}) == 3


def test_perfect_predictions() -> None:
    y = np.array([0, 1, 2, 2, 1, 0])
    for average in ("macro", "weighted", "micro"):
        assert classification_metrics(y, y, average) == _approx(dict.fromkeys(METRIC_NAMES, 1.0))


def test_degenerate_model_scores_zero_without_warnings() -> None:
    y_true = np.array([0, 1, 1, 0])
    y_pred = np.zeros(4, dtype=int)  # never predicts the positive class
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        binary = classification_metrics(y_true, y_pred, "binary")
        macro = classification_metrics(y_true, y_pred, "macro")
    assert binary == _approx({"accuracy": 0.5, "precision": 0.0, "recall": 0.0, "f1": 0.0})
    # class 0: P 1/2, R 1, F1 2/3; class 1: all zero (zero_division=0)
    assert macro == _approx({"accuracy": 0.5, "precision": 0.25, "recall": 0.5, "f1": (2 / 3) / 2})
