"""The training process's side of the pool: set-up once, then one `TrialTask` at a time.

`init_worker` runs once per process (TensorFlow imported) and `configure`, its first task,
hands it the sweep (experiment, data, model builder), so a process is "warm" before its
first trial; `run_task` trains with the task's own runner and
saves the model when it beats the task's threshold. The orchestrator side is
hpo/sweep/pool.py; nothing here knows which strategy is running.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from hpo.config.experiment import Experiment
from hpo.config.selection import is_better
from hpo.data.dataset import Dataset
from hpo.errors import UserInputError, first_line
from hpo.trial.cv import Plan, plan_for
from hpo.trial.placement import device_label
from hpo.trial.resources import Meter
from hpo.trial.score_noise import bootstrap_std
from hpo.trial.task import (
    KerasFit,
    LedgerRef,
    SklearnCV,
    Trained,
    TrialInputs,
    TrialResult,
    TrialRunner,
    TrialTask,
)
from hpo.urls import mask_log_records

if TYPE_CHECKING:
    from hpo.trial.validation import EpochPredictions

# this process's set-up, filled by `configure`
_state: dict[str, Any] = {}


def init_worker(threads: int, device_env: dict[str, str] | None = None) -> None:
    """The pool's initializer: the process-wide start-up (its device, TensorFlow, thread
    counts). It needs nothing of the sweep, so the process can be spawned before the
    experiment is checked and its data loaded (hpo.sweep.pool.early_training_processes)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the orchestrator handles Ctrl-C
    os.environ.update(device_env or {})  # the process's device (hpo/sweep/devices.py), pre-TF
    mask_log_records()  # a library logging the ledger URL it failed on shows no password
    # stdout belongs to the CLI (`--json` prints exactly one object): Keras callbacks such
    # as TerminateOnNaN print, so a worker's stdout goes to stderr
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    with _stderr_silenced():  # TensorFlow's C++ start-up banner ignores TF_CPP_MIN_LOG_LEVEL
        import tensorflow as tf

    tf.get_logger().setLevel(logging.ERROR)  # retracing notices are expected: new model per trial
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from hpo.trial.placement import grow_gpu_memory

    grow_gpu_memory()
    import keras  # noqa: F401  (imported now so the first trial does not pay for it)

    from hpo.tracking.saved_model import preload_model_saving

    preload_model_saving()


def configure(
    experiment_json: str,
    dataset: Dataset,
    model_root: str,
    ledger: LedgerRef,
    builder: bytes | None = None,  # a function builder (hpo.run(builder=...)), pickled
) -> int:
    """The first task of every training process: the sweep's set-up (experiment, data,
    model builder). Returns the process id once the process is ready for trials."""
    from hpo.models import get_builder, receive_builder

    experiment = Experiment.model_validate_json(experiment_json)
    _state.clear()
    if experiment.budget.mixed_precision:
        from hpo.trial.placement import use_mixed_precision

        _state["precision_policy"] = use_mixed_precision()
    _state.update(experiment=experiment, dataset=dataset, model_root=model_root, ledger=ledger)
    try:
        if builder is not None:
            receive_builder(experiment.model.builder, builder)
        _state["builder"] = get_builder(experiment.model.builder)
    except Exception as err:  # reported by every trial instead of a dead pool
        _state["init_error"] = f"cannot load the model builder: {err}"
    return os.getpid()


@contextmanager
def _stderr_silenced() -> Iterator[None]:
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def warm_up() -> int:
    """A no-op task: submitting it makes the pool start (and initialize) its process now."""
    return os.getpid()


def run_task(task: TrialTask) -> TrialResult:
    """Train one trial with its runner; save its model if it is the best so far."""
    if "init_error" in _state:
        return TrialResult(state="FAIL", error=_state["init_error"])
    experiment: Experiment = _state["experiment"]
    dataset: Dataset = _state["dataset"]
    plan = plan_for(experiment, task.runner)
    meter = Meter()
    meter.start()
    if plan.active:  # folds and/or repeats, whatever the strategy (trial/cv.py)
        result, model = _cross_validate(experiment, dataset, task, plan)
    else:
        from hpo.trial.validation import EpochPredictions

        predictions = EpochPredictions(dataset.x_val)
        reporter = _epoch_reporter(experiment, dataset, task, predictions)
        callbacks: list[Any] = []
        if reporter is not None:
            from hpo.trial.pruning import keras_callback

            callbacks.append(keras_callback(reporter))
        inputs = TrialInputs(
            experiment, dataset, task.params, task.seed, _state["builder"], callbacks, predictions
        )
        result, model = train(task.runner, inputs)
        if reporter is not None and reporter.pruned_epoch is not None and result.state != "FAIL":
            result.state = "PRUNED"
            result.pruned_epoch = reporter.pruned_epoch
    _record_cost(result, meter, experiment, task.seed)
    value = result.value(experiment.primary.metric)
    if (
        model is not None
        and result.state == "COMPLETE"
        and task.save_model
        and is_better(value, task.model_threshold, experiment.primary.direction)
    ):
        from hpo.tracking.saved_model import save_keras_model
        from hpo.trial.model_extras import save_model_extras

        path = os.path.join(_state["model_root"], f"trial-{task.number}")
        try:
            shutil.rmtree(path, ignore_errors=True)  # a folder left by a study of that name
            save_keras_model(model, dataset.x_val, path)
            save_model_extras(path, model, dataset, result.metrics)
            result.model_dir = path
        except Exception as err:  # a saving failure must not lose the trial's metrics
            result.error = f"model not saved: {first_line(err, with_type=True)}"
    return result


def _record_cost(result: TrialResult, meter: Meter, experiment: Experiment, seed: int) -> None:
    """The trial's resource use, device, precision policy and score noise, on its result."""
    usage = meter.stop()
    result.cpu_seconds, result.peak_rss_mb = usage.cpu_seconds, usage.peak_rss_mb
    result.peak_rss_scope, result.gpu_peak_mb = usage.peak_rss_scope, usage.gpu_peak_mb
    result.device = device_label(os.environ)
    result.precision_policy = _state.get("precision_policy")
    if result.confusion is not None:
        primary = experiment.primary
        result.score_std = bootstrap_std(
            result.confusion, primary.metric, primary.average, seed=seed
        )


def train(runner: TrialRunner, inputs: TrialInputs) -> Trained:
    """Run the trial the way its runner spec says (never by the strategy's name)."""
    match runner:
        case SklearnCV(cv=cv, n_jobs=n_jobs):
            from hpo.trial.sklearn_cv import evaluate_candidate

            return evaluate_candidate(inputs, cv=cv, n_jobs=n_jobs)
        case KerasFit():
            from hpo.trial.pipeline import train_and_evaluate

            return train_and_evaluate(inputs)
    raise TypeError(f"unknown trial runner {runner!r}")


def _cross_validate(
    experiment: Experiment, dataset: Dataset, task: TrialTask, plan: Plan
) -> Trained:
    """k folds x r seeds; the configured pruner is asked after each fold run."""
    from hpo.trial.cv import FoldReporter, cross_validate

    trial = _ledger_trial(experiment, task, plan.runs)
    reporter = None
    if trial is not None:
        paired = experiment.strategy.pruner == "wilcoxon"
        reporter = FoldReporter(trial, experiment.primary.metric, paired=paired)
    inputs = TrialInputs(experiment, dataset, task.params, task.seed, _state["builder"], [])
    result, model = cross_validate(inputs, plan, reporter)
    if reporter is not None and reporter.pruned_fold is not None and result.state != "FAIL":
        result.state = "PRUNED"
        result.pruned_fold = reporter.pruned_fold
    return result, model


def _epoch_reporter(
    experiment: Experiment, dataset: Dataset, task: TrialTask, predictions: EpochPredictions
) -> Any:
    """A pruning reporter for this trial, or None when the sweep does not prune."""
    trial = _ledger_trial(experiment, task, experiment.budget.epochs)
    if trial is None:
        return None
    from hpo.trial.pruning import EpochReporter

    return EpochReporter(
        trial,
        predictions.probs,  # the validation callback's pass of this epoch, not a second one
        dataset.x_val,
        dataset.y_val,
        experiment.primary.metric,
        experiment.primary.average,
    )


def _ledger_trial(experiment: Experiment, task: TrialTask, resource: int) -> Any:
    """This trial in the ledger study (its pruner's resource: epochs or fold runs), or None
    when the sweep does not prune."""
    if experiment.strategy.pruner == "none" or task.trial_id is None:
        return None
    import optuna

    from hpo.study._optuna_private import running_trial
    from hpo.study.storage import make_storage
    from hpo.trial.pruning import make_pruner

    if "study" not in _state:
        ref: LedgerRef = _state["ledger"]
        try:
            _state["study"] = optuna.load_study(
                study_name=ref.study,
                storage=make_storage(ref.storage),
                pruner=make_pruner(experiment.strategy.pruner, resource),
            )
        except Exception as err:
            # the orchestrator opened this very storage, so failing here means the database
            # is restarting (make_storage already retried): train this trial unpruned
            from hpo.study.retry import is_transient

            if not (is_transient(err) or isinstance(err, UserInputError)):
                raise
            return None
    return running_trial(_state["study"], task.trial_id)
