"""What crosses the process boundary: the task a training process runs, and its result.

A task carries its `runner`, the spec of *how* it is trained (the Keras pipeline or
scikit-learn cross-validation), chosen by the strategy (`Strategy.trial_runner()`), so the
training process never needs to know which strategy is running. Everything here is
picklable and imports nothing heavy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from hpo.config.experiment import Experiment
    from hpo.data.dataset import Dataset


class TrialFailed(Exception):
    """A trial that cannot produce a score (NaN loss, NaN predictions, builder error)."""


@dataclass
class TrialResult:
    state: str  # COMPLETE | PRUNED | FAIL
    metrics: dict[str, float] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    fit_seconds: float = 0.0
    predict_seconds: float = 0.0
    build_seconds: float = 0.0
    trial_seconds: float = 0.0
    n_params: int = 0
    epochs_run: int = 0
    error: str | None = None
    model_dir: str | None = None  # an MLflow Keras model saved by the worker, to upload
    pruned_epoch: int | None = None
    pruned_fold: int | None = None  # under cv/repeats: fold runs done when pruned (1-based)
    worker_pid: int = 0
    # validation confusion matrix (rows: true class): the sweep report reads it instead of
    # loading the best model into the orchestrator (a TensorFlow import)
    confusion: list[list[int]] | None = None
    # bootstrap std of the primary score on validation (hpo/trial/score_noise.py): the
    # noise-aware stop rule reads it from the ledger
    score_std: float | None = None
    # what the trial cost its training process (hpo/trial/resources.py)
    cpu_seconds: float | None = None
    peak_rss_mb: float | None = None
    peak_rss_scope: str | None = None  # "trial" or "process" (lifetime peak, an upper bound)
    gpu_peak_mb: float | None = None
    device: str | None = None  # where it trained: "cpu" or "gpu:<CUDA_VISIBLE_DEVICES>"
    precision_policy: str | None = None  # the Keras dtype policy, when mixed precision is on

    def scores(self) -> dict[str, float]:
        """Validation metrics plus the costs an objective or constraint may name."""
        if self.state == "FAIL":
            return dict(self.metrics)
        noise = {} if self.score_std is None else {"score_std": self.score_std}
        costs = {"n_params": float(self.n_params), "fit_seconds": self.fit_seconds}
        return {**self.metrics, **costs, **noise}

    def value(self, metric: str) -> float | None:
        value = self.scores().get(metric)
        return value if value is not None and math.isfinite(value) else None


# (result, trained model or None): what every runner returns to the training process
Trained = tuple[TrialResult, Any]


class ValidationPass(Protocol):
    """The validation split's predictions for a model's current weights, computed once per
    epoch (hpo.trial.validation.EpochPredictions)."""

    def probs(self, model: Any) -> Any: ...

    def labels(self, model: Any) -> Any: ...


@dataclass(frozen=True)
class TrialInputs:
    """Everything a runner may use for one trial, gathered by the training process."""

    experiment: Experiment
    dataset: Dataset
    params: Mapping[str, Any]
    seed: int
    builder: Callable[..., Any]  # the model family's builder, loaded once per process
    callbacks: list[Any]  # per-epoch Keras callbacks (pruning)
    # the validation split's predictions after each epoch, shared by validation and pruning
    # (None: the pipeline makes its own)
    predictions: ValidationPass | None = None


@dataclass(frozen=True)
class KerasFit:
    """Build the model, fit it on the train split, score it on validation (trial/pipeline.py).
    The only runner that takes per-epoch callbacks (pruning). `folds` (grid's `cv: k`)
    cross-validates like `evaluation.cv` (trial/cv.py)."""

    folds: int | None = None


@dataclass(frozen=True)
class SklearnCV:
    """scikit-learn `GridSearchCV` on one candidate over the sweep's own validation split
    (trial/sklearn_cv.py). k folds are not run here but by trial/cv.py (one cv path); `cv`
    stays for specs pickled by an older hpo. It builds its models by the experiment's
    builder name, and does not prune."""

    cv: Literal["validation"] | int = "validation"
    n_jobs: int = 1


# a runner is a spec (plain data, picklable); the training process maps it to the code that
# runs it (hpo/trial/worker.py `train`)
TrialRunner = KerasFit | SklearnCV


@dataclass(frozen=True)
class TrialTask:
    number: int
    params: dict[str, Any]
    seed: int
    # save the model when the objective beats this value (None: any completed trial)
    model_threshold: float | None
    save_model: bool
    trial_id: int | None = None  # the ledger's id, for reporting to a pruner
    runner: TrialRunner = KerasFit()  # how the training process trains it


@dataclass(frozen=True)
class LedgerRef:
    """Where a training process finds the study (to report epochs to its pruner)."""

    storage: str | None
    study: str
