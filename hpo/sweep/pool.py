"""Trials run in recycled worker processes.

Why processes: TensorFlow's resident memory grows ~5 MB per trial even after
`clear_session()`, so a worker is replaced after `budget.recycle_after` trials
(`max_tasks_per_child`), which keeps memory bounded on long sweeps. It also keeps
TensorFlow out of the orchestrating process, lets a Ctrl-C stop training at once, and
gives `--workers N` true parallelism (processes beat threads under the GIL).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hpo.config.experiment import Experiment
from hpo.config.selection import is_better
from hpo.data.dataset import Dataset
from hpo.errors import UserInputError, first_line
from hpo.trial.pipeline import TrialResult


@dataclass(frozen=True)
class TrialTask:
    number: int
    params: dict[str, Any]
    seed: int
    # save the model when the objective beats this value (None: any completed trial)
    model_threshold: float | None
    save_model: bool
    trial_id: int | None = None  # the ledger's id, for reporting to a pruner


@dataclass(frozen=True)
class LedgerRef:
    """Where a training process finds the study (to report epochs to its pruner)."""

    storage: str | None
    study: str


# ---------------------------------------------------------------- worker-process side

_state: dict[str, Any] = {}


def _init_worker(
    experiment_json: str, dataset: Dataset, model_root: str, threads: int, ledger: LedgerRef
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the orchestrator handles Ctrl-C
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

    from hpo.models import get_builder
    from hpo.tracking.runs import preload_model_saving

    preload_model_saving()
    experiment = Experiment.model_validate_json(experiment_json)
    _state.update(experiment=experiment, dataset=dataset, model_root=model_root, ledger=ledger)
    try:
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


def _warm_up() -> int:
    return os.getpid()


def _run_task(task: TrialTask) -> TrialResult:
    from hpo.trial.pipeline import train_and_evaluate

    if "init_error" in _state:
        return TrialResult(state="FAIL", error=_state["init_error"])
    experiment: Experiment = _state["experiment"]
    dataset: Dataset = _state["dataset"]
    reporter = _epoch_reporter(experiment, dataset, task)
    if experiment.strategy.name == "grid":
        from hpo.search.grid import GridOptions
        from hpo.trial.sklearn_cv import evaluate_candidate

        opts = GridOptions.model_validate(experiment.strategy.options)
        result, model = evaluate_candidate(
            experiment, dataset, task.params, seed=task.seed, cv=opts.cv, n_jobs=opts.n_jobs
        )
    else:
        callbacks = [] if reporter is None else [_keras_callback(reporter)]
        result, model = train_and_evaluate(
            experiment,
            dataset,
            task.params,
            seed=task.seed,
            builder=_state["builder"],
            extra_callbacks=callbacks,
        )
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
        from hpo.tracking.runs import save_keras_model

        path = os.path.join(_state["model_root"], f"trial-{task.number}")
        try:
            save_keras_model(model, dataset.x_val, path)
            result.model_dir = path
        except Exception as err:  # a saving failure must not lose the trial's metrics
            result.error = f"model not saved: {first_line(err, with_type=True)}"
    return result


def _epoch_reporter(experiment: Experiment, dataset: Dataset, task: TrialTask) -> Any:
    """A pruning reporter for this trial, or None when the sweep does not prune."""
    if experiment.strategy.pruner == "none" or task.trial_id is None:
        return None
    import optuna

    from hpo.study.ledger import make_storage
    from hpo.trial.pipeline import predict_labels
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
    trial = optuna.trial.Trial(_state["study"], task.trial_id)
    return EpochReporter(
        trial,
        lambda model: predict_labels(model, dataset.x_val),
        dataset.x_val,
        dataset.y_val,
        experiment.primary.metric,
        experiment.primary.average,
    )


def _keras_callback(reporter: Any) -> Any:
    from hpo.trial.pruning import keras_callback

    return keras_callback(reporter)


# ---------------------------------------------------------------- orchestrator side


class TrialExecutor:
    """A pool of `workers` training processes, each recycled every `recycle_after` trials."""

    def __init__(
        self,
        experiment: Experiment,
        dataset: Dataset,
        model_root: str,
        workers: int,
        ledger: LedgerRef,
        threads: int | None = None,
    ):
        self.workers = workers
        # children inherit the environment at spawn; set here, TensorFlow's C++ logs stay quiet
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        # each process gets its share of the cores (`hpo worker --threads` when several
        # workers share one machine), so N processes do not oversubscribe the CPU
        threads = threads or max(1, (os.cpu_count() or 1) // workers)
        self._args = (experiment.model_dump_json(), dataset, model_root, threads, ledger)
        self._recycle_after = experiment.budget.recycle_after
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=self._args,
            max_tasks_per_child=self._recycle_after,
        )
        for _ in range(self.workers):  # start TensorFlow now, while MLflow is being set up
            pool.submit(_warm_up)
        return pool

    def submit(self, task: TrialTask) -> Future[TrialResult]:
        return self._pool.submit(_run_task, task)

    def restart(self) -> None:
        """After a worker died (BrokenProcessPool) the pool is unusable: start a new one."""
        self.kill()
        self._pool = self._new_pool()

    def kill(self) -> None:
        """Stop at once: terminate the training processes, then release the pool."""
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
        self._pool.shutdown(wait=False, cancel_futures=True)
