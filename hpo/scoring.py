"""Scoring class probabilities: the one evaluation every runner (and cross-validation) uses.

`evaluate` turns (true labels, class probabilities) into the flat dict of metrics a trial
logs; `tune_threshold` picks a binary decision threshold on a validation split. Both are
pure functions of numpy arrays, so a runner, a cross-validation fold and a test split score
the same way. scikit-learn is imported inside the functions (the config reads names only).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

# at most this many classes get per-class metrics (`precision_<class>`, ...); per_class.json
# always holds every class
MAX_PER_CLASS = 20
ECE_BINS = 15
LABEL_METRICS = ("accuracy", "precision", "recall", "f1")
PROBABILITY_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "ece")
PER_CLASS_METRICS = ("precision", "recall", "f1", "support")
THRESHOLD = "threshold"  # the metric a trial logs its decision threshold under


def metric_key(name: str) -> str:
    """A class name as part of an MLflow metric key and a `--where` name: letters, digits,
    `_` and `.` are kept (both accept them), anything else becomes `_`."""
    return re.sub(r"[^A-Za-z0-9_.]", "_", str(name)) or "_"


def class_keys(class_names: Sequence[str]) -> list[str]:
    """Sanitised class names, made unique (`a_b`, `a_b_2`) when sanitising collides."""
    keys: list[str] = []
    for name in class_names:
        key, n = metric_key(name), 2
        while key in keys:
            key, n = f"{metric_key(name)}_{n}", n + 1
        keys.append(key)
    return keys


def two_columns(probs: np.ndarray) -> np.ndarray:
    """A one-column sigmoid output as [p(0), p(1)]; softmax outputs as given."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim == 1 or probs.shape[1] == 1:
        p = probs.reshape(-1)
        return np.column_stack([1.0 - p, p])
    return probs


def labels_at(probs: np.ndarray, threshold: float | None) -> np.ndarray:
    """Predicted labels: argmax, or `p(class 1) >= threshold` for a binary model with one."""
    if threshold is not None and probs.shape[1] == 2:
        return (probs[:, 1] >= threshold).astype(int)
    return probs.argmax(axis=1)


def label_metrics(y_true: np.ndarray, y_pred: np.ndarray, average: str) -> dict[str, float]:
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


def confusion(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """k x k counts, rows: true class (scikit-learn's `confusion_matrix` with labels 0..k-1)."""
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)


def averaged(table: Mapping[str, Any], average: str) -> dict[str, float]:
    """accuracy, precision, recall, f1 from per-class scores (`per_class_from_confusion`),
    averaged as scikit-learn's `precision_recall_fscore_support` does: macro over the
    classes that occur (true or predicted), weighted by support, micro = accuracy, binary
    = class 1."""
    support = np.asarray(table["support"], dtype=np.float64)
    n = support.sum()
    accuracy = float(table["correct"] / n) if n else 0.0
    if average == "micro":
        return {"accuracy": accuracy, "precision": accuracy, "recall": accuracy, "f1": accuracy}
    scores = {name: np.asarray(table[name]) for name in ("precision", "recall", "f1")}
    if average == "binary":
        return {"accuracy": accuracy, **{k: float(v[1]) for k, v in scores.items()}}
    if average == "weighted":
        weights = support / n if n else support
    else:
        present = (support > 0) | (np.asarray(table["predicted"]) > 0)
        weights = present / max(present.sum(), 1)
    return {"accuracy": accuracy, **{k: float((v * weights).sum()) for k, v in scores.items()}}


def expected_calibration_error(
    y_true: np.ndarray, probs: np.ndarray, bins: int = ECE_BINS
) -> float:
    """Top-label ECE: the confidence (highest probability) in `bins` equal-width bins
    (lo, hi]; the mean |accuracy - confidence| of each bin, weighted by its share of rows."""
    if len(y_true) == 0:
        return math.nan
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    total = 0.0
    for b in np.unique(which):
        rows = which == b
        total += rows.sum() * abs(correct[rows].mean() - confidence[rows].mean())
    return float(total / len(y_true))


def probability_metrics(y_true: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """roc_auc (one-vs-rest macro for multiclass), pr_auc (average precision, macro),
    log_loss, brier (multiclass: summed over classes) and ece, as scikit-learn computes
    them but in numpy (scikit-learn's input checks cost ~10x the arithmetic here). A score
    that cannot be computed (a class missing from `y_true`) is NaN, and not logged."""
    k = probs.shape[1]
    # float32 softmax rows sum to 1 only approximately
    probs = np.clip(probs, 0.0, 1.0)
    probs = probs / np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)
    onehot = y_true[:, None] == np.arange(k)[None, :]
    curves = [1] if k == 2 else range(k)  # binary: the positive class; else one-vs-rest
    likelihood = np.clip(probs[np.arange(len(y_true)), y_true], np.finfo(probs.dtype).eps, 1)
    squared = (probs - onehot) ** 2
    return {
        "roc_auc": _mean([_auc(onehot[:, c], probs[:, c]) for c in curves]),
        "pr_auc": _mean([_ap(onehot[:, c], probs[:, c]) for c in curves]),
        "log_loss": float(-np.log(likelihood).mean()) if len(y_true) else math.nan,
        "brier": float((squared[:, 1] if k == 2 else squared.sum(axis=1)).mean()),
        "ece": expected_calibration_error(y_true, probs),
    }


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def _auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic (ties count half): scikit-learn's value."""
    from scipy.stats import rankdata

    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _ap(positive: np.ndarray, score: np.ndarray) -> float:
    """Average precision, sum over distinct thresholds of (R_n - R_n-1) * P_n, as
    scikit-learn's `average_precision_score` computes it."""
    order = np.argsort(-score, kind="mergesort")
    s, y = score[order], positive[order].astype(np.float64)
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # each distinct score's last row
    tps = np.cumsum(y)[last]
    if len(tps) == 0 or tps[-1] == 0:
        return math.nan
    precision = tps / (last + 1)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def per_class_from_confusion(matrix: Any, class_names: Sequence[str]) -> dict[str, Any]:
    """The same payload from a confusion matrix (rows: true class), zero_division=0."""
    m = np.asarray(matrix, dtype=np.float64)
    tp = np.diag(m)
    predicted, support = m.sum(axis=0), m.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(tp), where=both > 0)
    names = [str(c) for c in class_names][: len(tp)]
    names += [str(i) for i in range(len(names), len(tp))]
    return {
        "classes": names,
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "f1": f1.tolist(),
        "support": [int(v) for v in support],
    }


def _scores(y_true: np.ndarray, y_pred: np.ndarray, k: int, names: Sequence[str]) -> dict:
    """Per-class scores plus the counts `averaged` needs, from one confusion matrix."""
    matrix = confusion(y_true, y_pred, k)
    return {
        **per_class_from_confusion(matrix, names),
        "predicted": matrix.sum(axis=0),
        "correct": int(np.trace(matrix)),
    }


def per_class_metrics(table: Mapping[str, Any]) -> dict[str, float]:
    """`precision_<class>`, `recall_<class>`, `f1_<class>`, `support_<class>` as flat metrics,
    for at most MAX_PER_CLASS classes (none beyond: per_class.json has them)."""
    classes = table["classes"]
    if len(classes) > MAX_PER_CLASS:
        return {}
    return {
        f"{name}_{key}": float(table[name][i])
        for i, key in enumerate(class_keys(classes))
        for name in PER_CLASS_METRICS
    }


def evaluate(
    y_true: np.ndarray,
    probs: np.ndarray,
    class_names: Sequence[str],
    average: str,
    threshold: float | None = None,
) -> dict[str, float]:
    """Every metric of one set of predictions, flat: the label metrics at `threshold`
    (binary; argmax otherwise), the probability metrics, per-class metrics (<= 20 classes)
    and `threshold` itself when one is in force. Cross-validation averages this dict."""
    y_true = np.asarray(y_true).astype(int).reshape(-1)
    probs = two_columns(probs)
    names = list(class_names)[: probs.shape[1]]
    names += [str(i) for i in range(len(names), probs.shape[1])]
    y_pred = labels_at(probs, threshold)
    table = _scores(y_true, y_pred, probs.shape[1], names)
    metrics = averaged(table, average)
    metrics.update(probability_metrics(y_true, probs))
    metrics.update(per_class_metrics(table))
    if threshold is not None and probs.shape[1] == 2:
        metrics[THRESHOLD] = float(threshold)
    return metrics


# ------------------------------------------------------------------ decision thresholds


@dataclass(frozen=True)
class ThresholdRule:
    """How a binary trial picks its decision threshold: `tune` maximises `metric`;
    `precision_at_recall` / `recall_at_precision` meet `target` on the other."""

    kind: Literal["tune", "precision_at_recall", "recall_at_precision"]
    target: float | None = None
    metric: str = "f1"
    average: str = "binary"

    @classmethod
    def parse(cls, value: Any, metric: str = "f1", average: str = "binary") -> ThresholdRule:
        """From the config's `objective.threshold`: "tune" or {rule: target}."""
        if value == "tune":
            return cls("tune", None, metric, average)
        if isinstance(value, Mapping) and len(value) == 1:
            ((kind, target),) = value.items()
            if kind in ("precision_at_recall", "recall_at_precision"):
                return cls(kind, float(target), metric, average)
        raise ValueError(
            "threshold: write 'tune', {precision_at_recall: 0.9} or {recall_at_precision: 0.95}"
        )


def _curves(y_true: np.ndarray, p: np.ndarray, average: str) -> tuple[np.ndarray, dict]:
    """Candidate thresholds (midpoints between distinct scores, and 0.5) and every label
    metric at each, from the 2x2 counts (vectorised: one sort, no per-threshold loop)."""
    scores = np.unique(p)
    mids = (scores[:-1] + scores[1:]) / 2
    candidates = np.unique(np.r_[mids, scores[:1], np.nextafter(scores[-1:], 2.0), 0.5])
    order = np.argsort(p)
    sorted_p, sorted_y = p[order], y_true[order]
    pos_below = np.r_[0, np.cumsum(sorted_y)]  # positives among the i lowest scores
    below = np.searchsorted(sorted_p, candidates, side="left")  # rows predicted 0
    n, pos = len(p), int(sorted_y.sum())
    tp = pos - pos_below[below]
    fp = (n - below) - tp
    fn = pos - tp
    tn = n - tp - fp - fn

    def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.divide(a, b, out=np.zeros(len(a)), where=b > 0)

    p1, r1 = ratio(tp, tp + fp), ratio(tp, tp + fn)
    p0, r0 = ratio(tn, tn + fn), ratio(tn, tn + fp)
    f1_1, f1_0 = ratio(2 * p1 * r1, p1 + r1), ratio(2 * p0 * r0, p0 + r0)
    accuracy = (tp + tn) / max(n, 1)
    if average == "binary":
        curves = {"precision": p1, "recall": r1, "f1": f1_1}
    elif average == "macro":
        curves = {"precision": (p0 + p1) / 2, "recall": (r0 + r1) / 2, "f1": (f1_0 + f1_1) / 2}
    elif average == "weighted":
        w1 = pos / max(n, 1)
        curves = {
            name: (1 - w1) * a + w1 * b
            for name, a, b in (("precision", p0, p1), ("recall", r0, r1), ("f1", f1_0, f1_1))
        }
    else:  # micro: every score is the accuracy
        curves = {"precision": accuracy, "recall": accuracy, "f1": accuracy}
    # the positive class's precision and recall decide a precision/recall target
    return candidates, {"accuracy": accuracy, **curves, "_p1": p1, "_r1": r1}


def tune_threshold(
    y_true: np.ndarray, p_positive: np.ndarray, rule: ThresholdRule
) -> tuple[float, dict[str, float]]:
    """The decision threshold `rule` picks on these predictions (predict 1 when
    p >= threshold), and the label metrics at it. A target no threshold meets gives the
    threshold closest to it (the metrics show the shortfall)."""
    y = np.asarray(y_true).astype(int).reshape(-1)
    p = np.asarray(p_positive, dtype=np.float64).reshape(-1)
    if len(p) == 0:
        return 0.5, {}
    candidates, curves = _curves(y, p, rule.average)
    if rule.kind == "tune":
        score = curves[rule.metric] if rule.metric in curves else curves["f1"]
    else:
        meet, gain = (
            (curves["_r1"], curves["_p1"])
            if rule.kind == "precision_at_recall"
            else (curves["_p1"], curves["_r1"])
        )
        target = float(rule.target if rule.target is not None else 0.0)
        # meeting the target first, then the most of the other; else as close as possible
        score = np.where(meet >= target, 2.0 + gain, meet)
    best = np.flatnonzero(score >= score.max() - 1e-12)
    # ties: the candidate closest to 0.5 (the model's own decision rule)
    pick = best[np.argmin(np.abs(candidates[best] - 0.5))]
    threshold = float(candidates[pick])
    metrics = {name: float(curves[name][pick]) for name in LABEL_METRICS}
    return threshold, {**metrics, THRESHOLD: threshold}
