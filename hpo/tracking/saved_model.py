"""Saving a trained Keras model as an MLflow model, in the training process.

The training process has the model; it writes the folder here and the orchestrator uploads
it with `Tracker.log_model_dir`, off the critical path of the next trial.
"""

from __future__ import annotations

from typing import Any

# Explicit requirements: letting MLflow infer them costs ~10 s per logged model.
MODEL_PIP_REQUIREMENTS = ("tensorflow", "keras", "mlflow")


def preload_model_saving() -> None:
    """Import MLflow's Keras flavour now (~3 s the first time) rather than mid-sweep."""
    import mlflow.keras
    import mlflow.models  # noqa: F401


def save_keras_model(model: Any, x_example: Any, path: str) -> None:
    """Save a trained Keras model as an MLflow model (with a signature) in `path`."""
    import mlflow.keras
    import numpy as np
    from mlflow.models import infer_signature

    example = np.asarray(x_example[:5])
    if example.dtype.kind in "uif" and example.dtype != np.float32:
        # the model's input is float32 whatever the rows hold (raw uint8 pixels, int
        # features): a uint8 signature would make MLflow refuse float rows at predict/serve
        example = example.astype(np.float32)
    signature = infer_signature(example, model(example, training=False).numpy())
    mlflow.keras.save_model(
        model, path, signature=signature, pip_requirements=list(MODEL_PIP_REQUIREMENTS)
    )
