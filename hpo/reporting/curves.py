"""The best trial's ROC, precision-recall and reliability pictures, from the validation
predictions stored with its model (`model/val_predictions.npz`, hpo/trial/model_extras.py).

scikit-learn draws them (`RocCurveDisplay`, `PrecisionRecallDisplay`, `CalibrationDisplay`).
A binary task gets the positive class's curves; a multiclass task one-vs-rest curves per class
(the first MAX_CURVES classes) and a top-label reliability diagram (confidence vs accuracy,
the quantity `ece` summarises). Reading the stored predictions costs one small download,
never TensorFlow.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpo.reporting.plots import _plt, _save
from hpo.scoring import ECE_BINS, two_columns

MAX_CURVES = 10  # one-vs-rest curves drawn for a multiclass task


@dataclass(frozen=True)
class ValPredictions:
    y_true: np.ndarray
    probabilities: np.ndarray
    class_names: list[str]

    @classmethod
    def from_npz(cls, payload: bytes) -> ValPredictions:
        with np.load(io.BytesIO(payload), allow_pickle=False) as arrays:
            probs = two_columns(arrays["probabilities"])
            names = [str(n) for n in arrays["class_names"]]
            return cls(np.asarray(arrays["y_true"], dtype=int), probs, names)

    def one_vs_rest(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """(class name, is that class, its probability) for each curve to draw."""
        if self.probabilities.shape[1] == 2:
            return [(self._name(1), self.y_true == 1, self.probabilities[:, 1])]
        k = min(self.probabilities.shape[1], MAX_CURVES)
        return [(self._name(c), self.y_true == c, self.probabilities[:, c]) for c in range(k)]

    def _name(self, c: int) -> str:
        return self.class_names[c] if c < len(self.class_names) else str(c)


def _curves(path: Path, data: ValPredictions, title: str, display: Any) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    for name, positive, score in data.one_vs_rest():
        if positive.any() and not positive.all():
            display.from_predictions(positive, score, name=f"class {name}", ax=ax)
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    return _save(fig, path)


def plot_roc(path: Path, data: ValPredictions, title: str) -> Path:
    from sklearn.metrics import RocCurveDisplay

    return _curves(path, data, title, RocCurveDisplay)


def plot_pr(path: Path, data: ValPredictions, title: str) -> Path:
    from sklearn.metrics import PrecisionRecallDisplay

    return _curves(path, data, title, PrecisionRecallDisplay)


def plot_reliability(path: Path, data: ValPredictions, title: str) -> Path:
    """Binary: observed frequency of class 1 against its predicted probability; multiclass:
    accuracy against the top-label confidence. 15 equal-width bins, as `ece`."""
    from sklearn.calibration import CalibrationDisplay

    probs = data.probabilities
    if probs.shape[1] == 2:
        outcome, score, name = data.y_true == 1, probs[:, 1], f"p(class {data._name(1)})"
    else:
        outcome, score, name = probs.argmax(axis=1) == data.y_true, probs.max(axis=1), "top label"
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    CalibrationDisplay.from_predictions(outcome, score, n_bins=ECE_BINS, name=name, ax=ax)
    ax.set_title(title)
    return _save(fig, path)


Draw = Callable[[Path], Any]
Plot = Callable[[Path, ValPredictions, str], Path]
PICTURES: list[tuple[str, str, Plot]] = [
    ("roc_curve.png", "ROC curve of the best trial", plot_roc),
    ("pr_curve.png", "Precision-recall curve of the best trial", plot_pr),
    ("reliability.png", "Reliability diagram (calibration) of the best trial", plot_reliability),
]


def draw_best_curves(
    add: Callable[[str, str, str, Draw], None],
    note: Callable[[str], None],
    run_id: str,
    trial: int,
    tracking_uri: str,
) -> None:
    """The three pictures through the report page's `add(name, title, caption, draw)`, or a
    note when the best trial's model has no stored validation predictions."""
    from hpo.tracking.registry import Registry
    from hpo.tracking.schema import MODEL_ARTIFACT, VAL_PREDICTIONS_FILE

    stored = f"{MODEL_ARTIFACT}/{VAL_PREDICTIONS_FILE}"
    try:
        data = ValPredictions.from_npz(Registry(tracking_uri).read_bytes(run_id, stored))
    except Exception:  # no logged model, or one from before the predictions were stored
        note(f"ROC, PR and reliability pictures: trial {trial} has no {stored}")
        return
    title = f"best trial {trial}, validation split"
    caption = "validation split, from the predictions stored with the trial's model"
    for name, heading, plot in PICTURES:
        add(name, heading, caption, _drawer(plot, data, title))


def _drawer(plot: Plot, data: ValPredictions, title: str) -> Draw:
    return lambda path: plot(path, data, title)
