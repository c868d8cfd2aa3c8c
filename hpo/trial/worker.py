"""The training process's side of the pool: set-up once, then one `TrialTask` at a time.

`init_worker` runs once per process (TensorFlow imported, model builder loaded), so a
process is "warm" before its first trial; `run_task` trains with the task's own runner and
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
from typing import Any

from hpo.config.experiment import Experiment
from hpo.config.selection import is_better
from hpo.data.dataset import Dataset
from hpo.errors import UserInputError, first_line
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

# this process's set-up, filled once by init_worker
_state: dict[str, Any] = {}


def init_worker(
    experiment_json: str,
    dataset: Dataset,
    model_root: str,
    threads: int,
    ledger: LedgerRef,
    builder: bytes | None = None,  # a function builder (hpo.run(builder=...)), pickled
) -> None:
    """The pool's initializer: pay every start-up cost before the first trial."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the orchestrator handles Ctrl-C
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
    import keras  # noqa: F401  (imported now so the first trial does not pay for it)

    from hpo.models import get_builder, receive_builder
    from hpo.tracking.saved_model import preload_model_saving

    preload_model_saving()
    experiment = Experiment.model_validate_json(experiment_json)
    _state.update(experiment=experiment, dataset=dataset, model_root=model_root, ledger=ledger)
    try:
        if builder is not None:
            receive_builder(experiment.model.builder, builder)
        _state["builder"] = get_builder(experiment.model.builder)
    except Exception as err:  # reported by every trial instead of a dead pool
        _state["init_error"] = f"cannot load the model builder: {err}"


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
    reporter = _epoch_reporter(experiment, dataset, task)
    callbacks: list[Any] = []
    if reporter is not None:
        from hpo.trial.pruning import keras_callback

        callbacks.append(keras_callback(reporter))
    inputs = TrialInputs(experiment, dataset, task.params, task.seed, _state["builder"], callbacks)
    result, model = train(task.runner, inputs)
    if reporter is not None and reporter.pruned_epoch is not None and result.state != "FAIL":
        result.state = "PRUNED"
        result.pruned_epoch = reporter.pruned_epoch
    value = result.value(experiment.primary.metric)
    if (
        model is not None
        and result.state == "COMPLETE"
        and task.save_model
        and is_better(value, task.model_threshold, experiment.primary.direction)
    ):
        from hpo.tracking.saved_model import save_keras_model

        path = os.path.join(_state["model_root"], f"trial-{task.number}")
        try:
            shutil.rmtree(path, ignore_errors=True)  # a folder left by a study of that name
            save_keras_model(model, dataset.x_val, path)
            result.model_dir = path
        except Exception as err:  # a saving failure must not lose the trial's metrics
            result.error = f"model not saved: {first_line(err, with_type=True)}"
    return result


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


def _epoch_reporter(experiment: Experiment, dataset: Dataset, task: TrialTask) -> Any:
    """A pruning reporter for this trial, or None when the sweep does not prune."""
    if experiment.strategy.pruner == "none" or task.trial_id is None:
        return None
    import optuna

    from hpo.study._optuna_private import running_trial
    from hpo.study.storage import make_storage
    from hpo.trial.predict import predict_labels
    from hpo.trial.pruning import EpochReporter, make_pruner

    if "study" not in _state:
        ref: LedgerRef = _state["ledger"]
        try:
            _state["study"] = optuna.load_study(
                study_name=ref.study,
                storage=make_storage(ref.storage),
                pruner=make_pruner(experiment.strategy.pruner, experiment.budget.epochs),
            )
        except Exception as err:
            # the orchestrator opened this very storage, so failing here means the database
            # is restarting (make_storage already retried): train this trial unpruned
            from hpo.study.retry import is_transient

            if not (is_transient(err) or isinstance(err, UserInputError)):
                raise
            return None
    trial = running_trial(_state["study"], task.trial_id)
    return EpochReporter(
        trial,
        lambda model: predict_labels(model, dataset.x_val),
        dataset.x_val,
        dataset.y_val,
        experiment.primary.metric,
        experiment.primary.average,
    )
