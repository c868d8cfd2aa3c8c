"""Files saved inside a trial's model folder beside the MLflow model, so they travel with it.

`threshold.json`: the binary decision threshold the trial tuned; `hpo predict`, `hpo serve`
and the model card read it from the model itself, so promote -> registry -> serve finds it
with no lookup (a registered version points at the run's `model` artifact).
`val_predictions.npz`: the validation labels and class probabilities the report draws its
ROC, PR and reliability pictures from without loading TensorFlow (kept only when small).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from hpo.data.dataset import Dataset
from hpo.scoring import THRESHOLD
from hpo.tracking.schema import THRESHOLD_FILE, VAL_PREDICTIONS_FILE
from hpo.trial.predict import predict_proba

# rows x classes above this: no val_predictions.npz (the report then notes the pictures)
MAX_STORED_PROBABILITIES = 1_000_000


def save_model_extras(folder: str, model: Any, dataset: Dataset, metrics: dict[str, float]) -> None:
    """Write the threshold (when one is in force) and the validation predictions."""
    path = Path(folder)
    threshold = metrics.get(THRESHOLD)
    if threshold is not None:
        payload = {
            THRESHOLD: float(threshold),
            "positive_class": dataset.class_names[1],
            "rule": "predict the positive class when its probability >= threshold",
        }
        (path / THRESHOLD_FILE).write_text(json.dumps(payload, indent=2), encoding="utf-8")
    if len(dataset.y_val) * dataset.n_classes > MAX_STORED_PROBABILITIES:
        return
    probs = predict_proba(model, dataset.x_val)
    np.savez_compressed(
        path / VAL_PREDICTIONS_FILE,
        y_true=np.asarray(dataset.y_val, dtype=np.int64),
        probabilities=probs.astype(np.float32),
        class_names=np.asarray(dataset.class_names, dtype=str),
    )


def read_threshold(model_folder: str | Path) -> float | None:
    """The decision threshold stored with a model, or None (argmax)."""
    file = Path(model_folder) / THRESHOLD_FILE
    if not file.is_file():
        return None
    return float(json.loads(file.read_text(encoding="utf-8"))[THRESHOLD])
