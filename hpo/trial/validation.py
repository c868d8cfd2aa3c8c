"""Per-epoch validation from one inference pass, instead of `fit(validation_data=...)`.

Given `validation_data`, Keras traces and runs a separate evaluation function for every new
model: on the digits MLP (10 epochs, 1 thread) fit + predict took 1.66 s with it against
1.21 s without (issue 17; docs/benchmarks.md "Per-epoch validation"). A trial builds a new
model every time, so that trace is paid on every trial. Here each epoch's validation is one
chunked direct call of the model in inference mode (`hpo.trial.predict.predict_proba`, the
same call that scores the trial), and `val_loss` / `val_accuracy` are computed from those
probabilities in NumPy the way Keras's compiled loss computes them. The values land in the
epoch's `logs` before any later callback reads them, so `EarlyStopping(monitor="val_loss")`,
`History` (the logged curve) and the pruner see what they saw before.

One pass serves everything that looks at the validation split after an epoch:
`EpochPredictions` keeps the probabilities of the epoch just ended, so the pruning reporter
does not predict a second time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hpo.data.images import cache_limit_bytes, is_image_array
from hpo.trial.predict import predict_proba
from hpo.trial.task import TrialFailed, ValidationPass

# Keras's `backend.epsilon()`: probabilities are clipped to [eps, 1 - eps] before the log
_EPSILON = 1e-7


def sparse_categorical_crossentropy(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Mean cross-entropy of integer labels under predicted class probabilities, computed as
    Keras computes `loss="sparse_categorical_crossentropy"` for a softmax output (the rows
    renormalised, clipped to [1e-7, 1 - 1e-7], then the log)."""
    if len(y_true) == 0:
        return float("nan")
    probs = probs / probs.sum(axis=1, keepdims=True)
    picked = np.clip(probs[np.arange(len(y_true)), y_true], _EPSILON, 1.0 - _EPSILON)
    return float(-np.log(picked).mean())


def regularization_loss(model: Any) -> float:
    """The penalty `model.evaluate` adds to the loss (kernel regularizers, `add_loss`)."""
    losses = getattr(model, "losses", None) or []
    return float(sum(float(np.asarray(loss)) for loss in losses))


class EpochPredictions:
    """The validation split's class probabilities for the model's current weights, computed
    once however many callbacks ask after an epoch (the validation callback, the pruner).

    The weights are identified by the optimizer's step count: within one model it changes
    with every training step, so it cannot go stale between two epochs.
    """

    def __init__(self, x_val: np.ndarray):
        self.x_val = x_val
        self._key: tuple[int, int] | None = None
        self._probs: np.ndarray | None = None

    def _rows(self) -> np.ndarray:
        """The validation rows; an image folder's split is decoded once and kept when it
        fits the image cache (HPO_IMAGE_CACHE_MB), else decoded again every epoch."""
        if is_image_array(self.x_val) and self.x_val.nbytes <= cache_limit_bytes():
            self.x_val = np.asarray(self.x_val)
        return self.x_val

    def probs(self, model: Any) -> np.ndarray:
        key = _weights_key(model)
        if key is None or key != self._key or self._probs is None:
            self._probs = predict_proba(model, self._rows())
            self._key = key
        return self._probs

    def labels(self, model: Any) -> np.ndarray:
        """Class predictions (the pruner's input); NaN probabilities fail the trial, as in
        `hpo.trial.predict.predict_labels`."""
        probs = self.probs(model)
        if not np.isfinite(probs).all():
            raise TrialFailed("the model predicts NaN")
        return probs.argmax(axis=1)


def _weights_key(model: Any) -> tuple[int, int] | None:
    optimizer = getattr(model, "optimizer", None)
    iterations = getattr(optimizer, "iterations", None)
    if iterations is None:
        return None
    return id(model), int(np.asarray(iterations))


def epoch_metrics(model: Any, probs: np.ndarray, y_val: np.ndarray) -> dict[str, float]:
    """`val_loss` and `val_accuracy` as `fit(validation_data=...)` would have logged them."""
    if not np.isfinite(probs).all():
        return {"val_loss": float("nan"), "val_accuracy": float("nan")}
    loss = sparse_categorical_crossentropy(y_val, probs) + regularization_loss(model)
    accuracy = float((probs.argmax(axis=1) == y_val).mean()) if len(y_val) else float("nan")
    return {"val_loss": loss, "val_accuracy": accuracy}


def validation_callback(predictions: ValidationPass, y_val: np.ndarray) -> Any:
    """A Keras callback that puts `val_loss` and `val_accuracy` into each epoch's logs. It
    must come before every callback that reads them (EarlyStopping, pruning)."""
    import keras

    class EpochValidation(keras.callbacks.Callback):
        """Validation metrics from one inference pass per epoch (no traced evaluate)."""

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if logs is None:
                return
            probs = predictions.probs(self.model)
            logs.update(epoch_metrics(self.model, probs, y_val))

    return EpochValidation()
