"""One grid candidate through scikit-learn's GridSearchCV over a SciKeras classifier.

Runs in the training process. The classifier builds its Keras model with the shared model
factory (routed parameters: `model__units`, `model__learning_rate`, ...), so a grid trial
trains the same model any other strategy would. By default the cross-validation is the
sweep's own split (`PredefinedSplit`: fit on train, score on validation); grid's `cv: k` is
not run here but by hpo/trial/cv.py, the cross-validation every strategy shares.
The test split is never touched.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
from scikeras.wrappers import KerasClassifier
from sklearn.model_selection import GridSearchCV, PredefinedSplit

from hpo.data.images import is_image_array
from hpo.data.scaling import InputScaling
from hpo.errors import first_line
from hpo.metrics import SCORE_NAMES
from hpo.trial.predict import predict_proba
from hpo.trial.preprocessing import built_params, with_input_scaling
from hpo.trial.task import Trained, TrialFailed, TrialInputs, TrialResult
from hpo.trial.validation import epoch_metrics


class HpoKerasClassifier(KerasClassifier):
    """SciKeras' classifier, recognised as a classifier by scikit-learn >= 1.6.

    scikeras 0.13 (its last release) lists BaseWrapper before ClassifierMixin, so with
    scikit-learn's estimator tags `is_classifier()` is False and an integer `cv` silently
    becomes KFold instead of StratifiedKFold. Setting the tag restores stratification.
    """

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier"
        return tags


def factory_model(
    builder_name: str,
    scaling: InputScaling | None,
    meta: Mapping[str, Any],
    compile_kwargs: Any = None,
    params: Any = None,
    image_files: Any = None,
    **model_params: Any,
) -> keras.Model:
    """SciKeras' `model=` function (bound with functools.partial, so joblib can pickle it):
    builds a compiled model with the shared factory from the routed `model__*` parameters,
    behind the train split's scaling layer (it takes raw rows, as every trial's model does).
    SciKeras also passes its own `compile_kwargs` and `params`; the factory compiles itself.
    """
    from hpo.models import get_builder

    input_shape = tuple(int(d) for d in meta["X_shape_"][1:])
    # image folders: the builder puts resizing and rescaling of raw pixels in the model
    extra = {} if image_files is None else {"x_train": image_files}
    model = get_builder(builder_name)(model_params, input_shape, int(meta["n_classes_"]), **extra)
    return with_input_scaling(model, scaling)


# per-fit records filled by EpochRecorder (fits run in this process when n_jobs == 1)
_records: list[dict[str, Any]] = []
_validation: dict[str, np.ndarray] = {}
_confusions: list[list[list[int]]] = []  # each scored fold's (out-of-fold rows' matrix)


class EpochRecorder(keras.callbacks.Callback):
    """Keeps each fold's per-epoch losses (and the model) for the trial's MLflow run."""

    def on_train_begin(self, logs: Mapping[str, float] | None = None) -> None:
        _records.append({"loss": [], "val_loss": [], "model": self.model})

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        record = _records[-1]
        record["loss"].append(float((logs or {}).get("loss", math.nan)))
        if _validation:  # one inference pass, not a traced evaluate (hpo/trial/validation.py)
            probs = predict_proba(self.model, _validation["x"])
            record["val_loss"].append(
                epoch_metrics(self.model, probs, _validation["y"])["val_loss"]
            )


def score_fold(
    estimator: Any, x: np.ndarray, y: np.ndarray, *, objective: Any, class_names: Any
) -> dict[str, float]:
    """GridSearchCV's scorer: the same metric dict the Keras pipeline logs (one predict of
    probabilities per fold; a threshold rule is tuned on the fold's validation rows)."""
    from hpo.trial.pipeline import confusion_counts
    from hpo.trial.predict import score_probabilities

    metrics, labels = score_probabilities(
        np.asarray(estimator.predict_proba(x)),
        y,
        class_names,
        objective.average,
        objective.threshold_rule(),
        objective.metric,
    )
    _confusions.append(confusion_counts(y, labels, len(class_names)))
    return metrics


def evaluate_candidate(inputs: TrialInputs, *, cv: str | int, n_jobs: int) -> Trained:
    """GridSearchCV on exactly this candidate; the model comes back for the validation
    split (it was fitted on the train split, like any other strategy's model). The
    builder is named to SciKeras (`experiment.model.builder`), so `inputs.builder` and
    `inputs.callbacks` are not used."""
    experiment, dataset, params, seed = (
        inputs.experiment,
        inputs.dataset,
        inputs.params,
        inputs.seed,
    )
    started = time.perf_counter()
    result = TrialResult(state="FAIL")
    x = np.concatenate([dataset.x_train, dataset.x_val])
    y = np.concatenate([dataset.y_train, dataset.y_val])
    if cv != "validation":  # k folds: the one cross-validation path (trial/cv.py)
        from hpo.trial.cv import Plan, cross_validate

        return cross_validate(inputs, Plan(int(cv), inputs.experiment.evaluation.repeats))
    splitter: Any = PredefinedSplit(
        np.r_[np.full(len(dataset.y_train), -1), np.zeros(len(dataset.y_val), dtype=int)]
    )
    _validation.update(x=np.asarray(dataset.x_val), y=dataset.y_val)
    batch_size = int(params.get("batch_size", experiment.budget.batch_size))
    fit_params = ("batch_size", "class_weight")  # the classifier's, not the builder's
    grid = {f"model__{k}": [v] for k, v in params.items() if k not in fit_params}
    estimator = HpoKerasClassifier(
        model=functools.partial(
            factory_model,
            experiment.model.builder,
            dataset.scaling,
            image_files=dataset.x_train if is_image_array(dataset.x_train) else None,
        ),
        epochs=experiment.budget.epochs,
        batch_size=batch_size,
        verbose=0,
        random_state=seed,
        # SciKeras' own `balanced`: scikit-learn's rule on the rows each fold fits
        class_weight=None if params.get("class_weight", "none") == "none" else "balanced",
        callbacks=[EpochRecorder, keras.callbacks.TerminateOnNaN],
    )
    search = GridSearchCV(
        estimator,
        grid,
        scoring=functools.partial(
            score_fold, objective=experiment.primary, class_names=dataset.class_names
        ),
        cv=splitter,
        refit=False,
        n_jobs=n_jobs,
        error_score="raise",
    )
    _records.clear()
    _confusions.clear()
    model = None
    try:
        keras.backend.clear_session(free_memory=False)
        keras.utils.set_random_seed(seed)
        search.fit(x, y)
        results = search.cv_results_
        folds = splitter.get_n_splits()
        names = [k.removeprefix("mean_test_") for k in results if k.startswith("mean_test_")]
        for name in names:
            result.metrics[name] = float(results[f"mean_test_{name}"][0])
            if name in SCORE_NAMES:
                result.metrics[f"{name}_std"] = float(results[f"std_test_{name}"][0])
        result.fit_seconds = float(results["mean_fit_time"][0]) * folds
        result.predict_seconds = float(results["mean_score_time"][0]) * folds
        if _confusions:  # summed over folds: every train + validation row once
            result.confusion = np.sum(_confusions, axis=0).astype(int).tolist()
        if _records:
            last = _records[-1]
            result.history = {"loss": last["loss"], "val_loss": last["val_loss"]}
            result.epochs_run = len(last["loss"])
            result.n_params = built_params(last["model"])
            if any(not math.isfinite(v) for v in last["loss"]):
                raise TrialFailed("loss became NaN")
            model = last["model"]
        result.state = "COMPLETE"
    except TrialFailed as err:
        result.error = str(err)
    except Exception as err:
        result.error = first_line(err, with_type=True)
    result.trial_seconds = time.perf_counter() - started
    return result, model
