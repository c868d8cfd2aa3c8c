"""How a trial is run is the task's business: the strategy picks a runner spec, the training
process obeys it; and the one chunked predict every caller shares."""

from __future__ import annotations

import pickle
import re
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hpo.config.experiment import Experiment
from hpo.config.space import SearchSpaceSpec, compile_space
from hpo.search import REGISTRY, create_strategy, strategy_class
from hpo.search.base import StrategyOptions
from hpo.search.grid import GridOptions
from hpo.trial import pipeline, predict, worker
from hpo.trial.task import (
    KerasFit,
    SklearnCV,
    TrialFailed,
    TrialInputs,
    TrialResult,
    TrialTask,
)
from tests.conftest import tiny_experiment

ROOT = Path(__file__).resolve().parent.parent
SPACE = compile_space(
    SearchSpaceSpec.model_validate(
        {
            "params": {
                "a": {"type": "categorical", "choices": [1, 2, 3]},
                "b": {"type": "categorical", "choices": [4, 5]},
            }
        }
    )
)


def test_strategies_choose_their_runner_and_declare_their_size() -> None:
    random = create_strategy("random", {}, SPACE, ["maximize"], 0)
    assert random.trial_runner() == KerasFit()
    assert random.size is None
    grid = create_strategy("grid", {"cv": 3, "n_jobs": 2}, SPACE, ["maximize"], 0)
    assert grid.trial_runner() == KerasFit(folds=3)  # k folds: trial/cv.py, as evaluation.cv
    assert grid.size == 6
    # class-level forms, for callers with a configuration but no study yet (`hpo compare`)
    cls = strategy_class("grid")
    assert cls.size_of(SPACE, GridOptions(grid_points=2)) == 6
    assert cls.runner_for(GridOptions()) == SklearnCV(cv="validation", n_jobs=1)
    assert strategy_class("optuna-tpe").size_of(SPACE, StrategyOptions()) is None


def test_a_task_carries_its_runner_across_the_process_boundary() -> None:
    task = TrialTask(1, {"a": 1}, 7, None, False, runner=SklearnCV(cv=2, n_jobs=1))
    assert pickle.loads(pickle.dumps(task)) == task
    assert TrialTask(1, {}, 7, None, False).runner == KerasFit()


def test_the_worker_runs_the_tasks_runner_whatever_the_strategy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, Any]] = []

    def keras_fit(inputs: TrialInputs) -> Any:
        calls.append(("keras", inputs))
        return TrialResult(state="COMPLETE", metrics={"f1": 0.5}), None

    def sklearn_cv(inputs: TrialInputs, *, cv: Any, n_jobs: int) -> Any:
        calls.append(("sklearn", (inputs.params, cv, n_jobs)))
        return TrialResult(state="COMPLETE", metrics={"f1": 0.25}), None

    # a stand-in module: the real one imports Keras and SciKeras
    monkeypatch.setitem(
        sys.modules, "hpo.trial.sklearn_cv", types.SimpleNamespace(evaluate_candidate=sklearn_cv)
    )
    monkeypatch.setattr(pipeline, "train_and_evaluate", keras_fit)
    experiment = Experiment.model_validate(tiny_experiment(**{"strategy.name": "grid"}))
    dataset = types.SimpleNamespace(x_val=None)  # the runners are stand-ins: no data needed
    state = {"experiment": experiment, "dataset": dataset, "builder": print}
    monkeypatch.setattr(worker, "_state", state)

    keras_task = TrialTask(4, {"units": 8}, 11, None, False)  # a grid experiment, yet KerasFit
    assert worker.run_task(keras_task).metrics == {"f1": 0.5}
    runner = SklearnCV(cv="validation", n_jobs=2)
    cv_task = TrialTask(5, {"units": 16}, 12, None, False, runner=runner)
    assert worker.run_task(cv_task).metrics == {"f1": 0.25}
    (kind, inputs), second = calls
    assert kind == "keras"
    assert (inputs.experiment, inputs.dataset, inputs.params, inputs.seed) == (
        experiment,
        dataset,
        {"units": 8},
        11,
    )
    assert (inputs.builder, inputs.callbacks) == (print, [])
    assert inputs.predictions is not None  # one validation pass, shared with the pruner
    assert second == ("sklearn", ({"units": 16}, "validation", 2))


def test_nothing_outside_search_and_trial_tests_a_strategys_name() -> None:
    names = "|".join(re.escape(name) for name in REGISTRY)
    literal = rf"""["'](?:{names})["']"""
    pattern = re.compile(rf"[!=]=\s*{literal}|{literal}\s*[!=]=|\bin\s*\(\s*{literal}")
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "hpo").rglob("*.py")
        if path.parent.name not in ("search", "trial") and pattern.search(path.read_text())
    ]
    assert offenders == []


def test_predict_proba_chunks_any_callable_and_keeps_every_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(predict, "PREDICT_CHUNK", 4)
    seen: list[int] = []

    def model(x: np.ndarray) -> np.ndarray:
        seen.append(len(x))
        return np.stack([x[:, 0], 1 - x[:, 0]], axis=1).astype(np.float32)

    x = np.linspace(0, 1, 10)[:, None]
    probs = predict.predict_proba(model, x)
    assert seen == [4, 4, 2]
    assert probs.dtype == np.float64 and probs.shape == (10, 2)
    assert probs[:, 0] == pytest.approx(x[:, 0])
    assert predict.predict_labels(model, x).tolist() == [1] * 5 + [0] * 5
    assert predict.predict_proba(model, x[:0]).shape[0] == 0


def test_predict_labels_fails_the_trial_on_nan() -> None:
    with pytest.raises(TrialFailed, match="predicts NaN"):
        predict.predict_labels(lambda x: np.full((len(x), 2), np.nan), np.zeros((3, 1)))


def test_evaluate_gives_test_metrics_and_the_confusion_matrix() -> None:
    y = np.array([0, 1, 2, 2])

    def model(x: np.ndarray) -> np.ndarray:
        return np.eye(3)[[0, 1, 2, 1]]

    metrics, confusion = predict.evaluate(model, np.zeros((4, 1)), y, "macro")
    assert set(metrics) == {"test_accuracy", "test_precision", "test_recall", "test_f1"}
    assert metrics["test_accuracy"] == pytest.approx(0.75)
    assert confusion.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]


def test_wide_rows_are_predicted_in_byte_bounded_chunks() -> None:
    """Images go a few hundred at a time, so a conv model's activations, and a trial's peak
    memory, do not grow with the validation split."""
    assert predict.chunk_rows(np.zeros((10, 64))) == predict.PREDICT_CHUNK
    image_rows = predict.chunk_rows(np.zeros((2, 64, 64, 3), dtype=np.uint8))
    assert image_rows == predict.PREDICT_CHUNK_BYTES // (64 * 64 * 3 * 4) == 170
    seen: list[int] = []

    def model(x: np.ndarray) -> np.ndarray:
        seen.append(len(x))
        return np.ones((len(x), 2), dtype=np.float32) / 2

    assert predict.predict_proba(model, np.zeros((400, 64, 64, 3))).shape == (400, 2)
    assert seen == [170, 170, 60]
