"""Cross-validated and repeated trials (issue 15 part 1): folds, aggregates, fold pruning,
grid's `cv: k` on the same path, and one real cross-validated sweep logged to MLflow."""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest

from hpo.config.experiment import Experiment
from hpo.data.dataset import Dataset
from hpo.data.splits import fold_indices
from hpo.errors import UserInputError
from hpo.search import create_strategy
from hpo.trial import cv, worker
from hpo.trial.cv import FoldReporter, Plan, cross_validate, plan_for
from hpo.trial.task import KerasFit, SklearnCV, TrialInputs, TrialResult, TrialTask
from tests.conftest import run_cli, tiny_experiment

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _dataset(n: int = 60, classes: int = 3) -> Dataset:
    rng = np.random.default_rng(0)
    y = np.arange(n) % classes
    x = rng.normal(size=(n, 4)).astype(np.float32)
    return Dataset(
        x_train=x[:40],
        y_train=y[:40],
        x_val=x[40:50],
        y_val=y[40:50],
        x_test=x[50:],
        y_test=y[50:],
        class_names=tuple(str(c) for c in range(classes)),
        fingerprint="f",
    )


def _inputs(**evaluation: Any) -> TrialInputs:
    experiment = Experiment.model_validate(tiny_experiment(evaluation=evaluation))
    return TrialInputs(experiment, _dataset(), {"units": 8}, 10, print, [])


def test_folds_are_stratified_disjoint_complete_and_seeded() -> None:
    y = np.repeat([0, 1, 2], [30, 20, 10])
    folds = fold_indices(y, 5, seed=1)
    validated = np.concatenate([va for _, va in folds])
    assert sorted(validated) == list(range(len(y)))  # every row validated exactly once
    for train, val in folds:
        assert not set(train) & set(val)
        assert np.bincount(y[val]).tolist() == [6, 4, 2]  # each class split evenly
    again = fold_indices(y, 5, seed=1)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))
    other = fold_indices(y, 5, seed=2)
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(folds, other, strict=True))


def test_mean_std_and_per_fold_values_match_a_recomputation() -> None:
    seen: list[tuple[int, int, float]] = []

    def fake_fit(inputs: TrialInputs) -> tuple[TrialResult, Any]:
        data = inputs.dataset
        assert len(data.y_test) == 10  # the test split is never re-split
        assert len(data.y_train) + len(data.y_val) == 50
        score = float(data.x_val[:, 0].mean()) + inputs.seed / 1000
        seen.append((inputs.seed, len(data.y_val), score))
        metrics = {"f1": score, "accuracy": 2 * score}
        return TrialResult("COMPLETE", metrics=metrics, history={"loss": [1.0]}), "model"

    result, model = cross_validate(_inputs(cv=5, repeats=2), Plan(5, 2), train_one=fake_fit)
    assert result.state == "COMPLETE" and model == "model"
    scores = np.array([s for _, _, s in seen])
    assert len(scores) == 10
    assert [seed for seed, _, _ in seen] == [10] * 5 + [10 + cv.REPEAT_SEED_STRIDE] * 5
    assert result.metrics["f1"] == pytest.approx(scores.mean())
    assert result.metrics["f1_std"] == pytest.approx(scores.std())
    assert result.metrics["accuracy"] == pytest.approx(2 * scores.mean())
    assert result.history["f1_fold"] == pytest.approx(list(scores))


def test_a_cv_trial_is_pruned_after_a_fold_by_the_wilcoxon_pruner() -> None:
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.WilcoxonPruner())
    best = study.ask()
    for step in range(5):
        best.report(0.9 + step / 100, step)
    study.tell(best, 0.92)
    trial = study.ask()
    calls: list[int] = []

    def poor_fit(inputs: TrialInputs) -> tuple[TrialResult, Any]:
        calls.append(1)
        return TrialResult("COMPLETE", metrics={"f1": 0.1}), None

    reporter = FoldReporter(trial, "f1", paired=True)
    result, _ = cross_validate(_inputs(cv=5), Plan(5), reporter, train_one=poor_fit)
    assert reporter.pruned_fold is not None and reporter.pruned_fold < 5
    assert len(calls) == reporter.pruned_fold  # stopped training right after that fold
    assert result.history["f1_fold"] == [0.1] * reporter.pruned_fold
    assert dict(trial.storage.get_trial(trial._trial_id).intermediate_values) == {
        i: 0.1 for i in range(reporter.pruned_fold)
    }


def test_the_running_mean_goes_to_other_pruners_and_the_last_fold_is_never_pruned() -> None:
    reports: list[tuple[float, int]] = []
    trial = types.SimpleNamespace(
        report=lambda value, step: reports.append((value, step)), should_prune=lambda: True
    )
    reporter = FoldReporter(trial, "f1", paired=False)
    assert reporter.after_run(0, [0.2]) is True and reporter.pruned_fold == 1
    reporter = FoldReporter(trial, "f1", paired=False)
    assert reporter.after_run(1, [0.2, 0.4], last=True) is False
    assert reports[-1] == (pytest.approx(0.3), 2)


def test_grid_cv_is_evaluation_cv_one_path(monkeypatch: pytest.MonkeyPatch) -> None:
    space = Experiment.model_validate(tiny_experiment()).space
    grid = create_strategy("grid", {"cv": 3}, space, ["maximize"], 0)
    experiment = Experiment.model_validate(tiny_experiment(**{"strategy.name": "grid"}))
    assert grid.trial_runner() == KerasFit(folds=3)
    assert plan_for(experiment, grid.trial_runner()) == Plan(3, 1)
    # every strategy: evaluation.cv on a plain runner, and an old pickled grid spec
    with_cv = Experiment.model_validate(tiny_experiment(evaluation={"cv": 4, "repeats": 2}))
    assert plan_for(with_cv, KerasFit()) == Plan(4, 2)
    assert plan_for(experiment, SklearnCV(cv=2)) == Plan(2, 1)
    assert not plan_for(experiment, SklearnCV()).active

    ran: list[Plan] = []

    def fake(inputs: TrialInputs, plan: Plan, reporter: Any = None) -> Any:
        ran.append(plan)
        return TrialResult("COMPLETE", metrics={"f1": 0.5}), None

    monkeypatch.setattr(cv, "cross_validate", fake)
    monkeypatch.setattr(worker, "_state", {"experiment": experiment, "dataset": None})
    worker._state["builder"] = print
    task = TrialTask(1, {"units": 8}, 4, None, False, runner=grid.trial_runner())
    assert worker.run_task(task).metrics == {"f1": 0.5}
    assert ran == [Plan(3, 1)]
    source = (Path(__file__).parents[1] / "hpo/trial/sklearn_cv.py").read_text()
    assert "StratifiedKFold(" not in source and "cross_validate" in source


def test_config_refusals(write_config: Any) -> None:
    with pytest.raises(ValueError, match="wilcoxon"):
        Experiment.model_validate(tiny_experiment(**{"strategy.pruner": "wilcoxon"}))
    with pytest.raises(ValueError, match="greater than or equal to 2"):
        Experiment.model_validate(tiny_experiment(evaluation={"cv": 1}))
    # the default evaluation keeps old configs' hashes
    plain = Experiment.model_validate(tiny_experiment())
    assert "evaluation" not in plain.canonical_json()
    from hpo.sweep.preflight import check

    config = tiny_experiment(evaluation={"cv": 2}, **{"strategy.name": "grid"})
    config["strategy"]["options"] = {"cv": 3}
    with pytest.raises(UserInputError, match="disagree"):
        check(Experiment.model_validate(config), source="x.yaml")
    big = Experiment.model_validate(tiny_experiment(evaluation={"cv": 100}))
    with pytest.raises(UserInputError, match="100-fold cross-validation needs") as err:
        check(big, source="x.yaml")
    assert err.value.field == "evaluation.cv"


@pytest.fixture(scope="module")
def cv_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real cross-validated sweep: 2 folds x 1 epoch, 2 trials."""
    import yaml

    workdir = tmp_path_factory.mktemp("cv")
    config = tiny_experiment(evaluation={"cv": 2})
    (workdir / "exp.yaml").write_text(yaml.safe_dump(config))
    done = run_cli("run", "exp.yaml", "--study", "cv", "--json", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["states"]["COMPLETE"] == 2
    return workdir


@pytest.mark.slow
def test_a_cv_sweep_logs_the_mean_the_spread_and_each_fold(cv_sweep: Path) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{cv_sweep / 'mlflow.db'}")
    exp = client.get_experiment_by_name("tiny")
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], "tags.`hpo.kind` = 'trial'")
    assert len(runs) == 2
    for run in runs:
        folds = client.get_metric_history(run.info.run_id, "f1_fold")
        assert sorted(m.step for m in folds) == [0, 1]
        values = np.array([m.value for m in sorted(folds, key=lambda m: m.step)])
        assert run.data.metrics["f1"] == pytest.approx(values.mean())
        assert run.data.metrics["f1_std"] == pytest.approx(values.std())
        matrix = json.loads(
            Path(client.download_artifacts(run.info.run_id, "confusion_matrix.json")).read_text()
        )["matrix"]
        assert sum(map(sum, matrix)) > 0


def test_the_history_picture_draws_fold_spread_only_under_cv(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hpo.reporting.fold_spread import draw_fold_spread
    from hpo.tracking.reads import TrialRecord

    def records(with_std: bool) -> list[TrialRecord]:
        metrics = [{"f1": 0.5, **({"f1_std": 0.1} if with_std else {})}, {}]
        return [TrialRecord(i, "r", "COMPLETE", {}, m, False) for i, m in enumerate(metrics)]

    for with_std, bars in ((True, 1), (False, 0)):
        fig, ax = plt.subplots()
        draw_fold_spread(ax, [0, 1], [0.5, None], records(with_std), "f1")
        assert len(ax.containers) == bars
        if bars:
            segments = ax.containers[0].lines[2][0].get_segments()
            assert [tuple(map(tuple, s)) for s in segments] == [((0, 0.4), (0, 0.6))]
        plt.close(fig)


def test_the_worker_marks_a_trial_pruned_between_folds(monkeypatch: pytest.MonkeyPatch) -> None:
    from hpo.sweep.mlflow_listener import _result_tags
    from hpo.sweep.resume import training_setup
    from hpo.trial import pipeline

    config = tiny_experiment(evaluation={"cv": 3}, **{"strategy.pruner": "median"})
    experiment = Experiment.model_validate(config)
    asked: list[tuple[float, int]] = []
    trial = types.SimpleNamespace(
        report=lambda value, step: asked.append((value, step)), should_prune=lambda: True
    )
    monkeypatch.setattr(worker, "_ledger_trial", lambda exp, task, resource: trial)
    fit = TrialResult("COMPLETE", metrics={"f1": 0.25}, history={"loss": [1.0]})
    monkeypatch.setattr(pipeline, "train_and_evaluate", lambda inputs: (fit, None))
    state = {"experiment": experiment, "dataset": _dataset(), "builder": print}
    monkeypatch.setattr(worker, "_state", state)
    result = worker.run_task(TrialTask(2, {"units": 8}, 5, None, False, trial_id=9))
    assert (result.state, result.pruned_fold, result.pruned_epoch) == ("PRUNED", 1, None)
    assert asked == [(0.25, 1)]  # the running mean after one fold run, step = runs done
    assert _result_tags(result)["hpo.pruned_fold"] == "1"
    # a resumed study must keep its evaluation: it is part of the recorded training setup
    repeated = Experiment.model_validate(tiny_experiment(evaluation={"cv": 3, "repeats": 2}))
    assert training_setup(repeated, repeated.space)["cv"] == "3 x2 seeds"
    assert training_setup(experiment, experiment.space)["cv"] == 3
