"""Decision thresholds for binary tasks: the pure tuner against brute force, the refusal on a
multiclass task, and one real sweep on an imbalanced binary set whose tuned threshold is
logged, stored with the model, applied by `hpo predict` and drawn in the report (ROC, PR
and reliability pictures). Both runners log one metric schema."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score

from hpo.config.experiment import Experiment
from hpo.errors import UserInputError
from hpo.scoring import ThresholdRule, tune_threshold
from tests.conftest import tiny_experiment
from tests.models_helpers import SweepDir, sweep_dir


def _imbalanced(n: int = 400, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """20 % positives whose scores overlap the negatives' and sit mostly below 0.5."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(int)
    return y, np.clip(0.25 * y + 0.6 * rng.random(n), 0, 1)


def _brute_force(y: np.ndarray, p: np.ndarray) -> list[tuple[float, float, float, float]]:
    """(threshold, f1, precision, recall) of the positive class at every distinct score."""
    rows = []
    for t in np.unique(p):
        pred = p >= t
        tp, predicted, positive = (pred & (y == 1)).sum(), pred.sum(), (y == 1).sum()
        precision = tp / predicted if predicted else 0.0
        recall = tp / positive if positive else 0.0
        f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
        rows.append((float(t), float(f1), float(precision), float(recall)))
    return rows


def test_tuned_threshold_beats_one_half_and_matches_brute_force() -> None:
    y, p = _imbalanced()
    threshold, metrics = tune_threshold(y, p, ThresholdRule.parse("tune", "f1", "binary"))
    at_half = f1_score(y, (p >= 0.5).astype(int), zero_division=0)
    best = max(f for _, f, _, _ in _brute_force(y, p))
    assert metrics["f1"] == pytest.approx(best) and metrics["f1"] > at_half
    assert metrics["f1"] == pytest.approx(f1_score(y, (p >= threshold).astype(int)))
    assert metrics["threshold"] == threshold


@pytest.mark.parametrize(
    ("rule", "meet", "gain"),
    [({"precision_at_recall": 0.9}, 3, 2), ({"recall_at_precision": 0.5}, 2, 3)],
)
def test_a_target_rule_meets_its_target_with_the_most_of_the_other(
    rule: dict[str, float], meet: int, gain: int
) -> None:
    y, p = _imbalanced()
    target = next(iter(rule.values()))
    threshold, metrics = tune_threshold(y, p, ThresholdRule.parse(rule))
    rows = _brute_force(y, p)
    best = max(r[gain] for r in rows if r[meet] >= target)
    pred = (p >= threshold).astype(int)
    got = {2: precision_score(y, pred), 3: recall_score(y, pred)}
    assert got[meet] >= target and got[gain] == pytest.approx(best)
    assert metrics["precision"] == pytest.approx(got[2])


def test_an_unreachable_target_gives_the_closest_threshold() -> None:
    y, p = _imbalanced()
    _, metrics = tune_threshold(y, p, ThresholdRule.parse({"recall_at_precision": 1.0}))
    assert metrics["precision"] == pytest.approx(max(r[2] for r in _brute_force(y, p)))


def test_a_threshold_on_a_multiclass_task_is_refused_before_anything_runs() -> None:
    from hpo.sweep.preflight import check

    raw = tiny_experiment(**{"objective.threshold": "tune"})  # digits: 10 classes
    with pytest.raises(UserInputError) as caught:
        check(Experiment.model_validate(raw), source="exp.yaml")
    assert caught.value.field == "objective.threshold"
    assert "needs 2 classes, the data has 10" in str(caught.value)
    with pytest.raises(ValueError, match="threshold: write 'tune'"):
        ThresholdRule.parse("auto")


# ---------------------------------------------------------------- one real sweep


BINARY = {
    "data.source": "breast_cancer",
    "objective": {"metric": "f1", "average": "binary", "threshold": "tune"},
    "budget.trials": 1,
}


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    for folder in sweep_dir(tmp_path_factory, "threshold"):
        summary = folder.run_sweep("bc", **BINARY)
        yield {"dir": folder, "best": summary["best"]}


def _val_predictions(folder: SweepDir, run_id: str) -> Any:
    from hpo.tracking.registry import Registry

    payload = Registry(folder.uri).read_bytes(run_id, "model/val_predictions.npz")
    return np.load(io.BytesIO(payload))


@pytest.mark.slow
def test_the_trial_logs_the_threshold_and_the_metrics_at_it(swept: dict[str, Any]) -> None:
    folder: SweepDir = swept["dir"]
    run_id = swept["best"]["run_id"]
    client = folder.client()
    metrics = client.get_run(run_id).data.metrics
    for name in ("threshold", "roc_auc", "pr_auc", "log_loss", "brier", "ece", "support_1"):
        assert name in metrics
    stored = _val_predictions(folder, run_id)
    y, p1 = stored["y_true"], stored["probabilities"][:, 1]
    at_threshold = f1_score(y, (p1 >= metrics["threshold"]).astype(int))
    assert metrics["f1"] == pytest.approx(at_threshold, abs=1e-6)
    assert metrics["f1"] >= f1_score(y, (p1 >= 0.5).astype(int)) - 1e-9
    files = {a.path for a in client.list_artifacts(run_id)}
    assert {"per_class.json", "confusion_matrix.json"} <= files
    local = client.download_artifacts(run_id, "model/threshold.json", str(folder.path))
    stored_threshold = json.loads(Path(local).read_text(encoding="utf-8"))["threshold"]
    assert stored_threshold == metrics["threshold"]


@pytest.mark.slow
def test_predict_applies_the_stored_threshold(
    swept: dict[str, Any],
) -> None:
    folder: SweepDir = swept["dir"]
    run_id = swept["best"]["run_id"]
    threshold = folder.client().get_run(run_id).data.metrics["threshold"]
    from hpo.data.dataset import load_dataset

    raw = tiny_experiment(**BINARY)
    data = load_dataset(Experiment.model_validate(raw).data, raw["seed"])
    rows = folder.path / "rows.npz"
    np.savez(rows, x=data.x_val)
    result = folder.invoke("predict", f"runs:/{run_id}/model", str(rows))
    assert result.exit_code == 0, result.output
    assert f"decision threshold {threshold:.6g} in force" in result.stderr
    lines = result.stdout.strip().splitlines()[1:]
    labels = np.array([int(line.split(",")[0]) for line in lines])
    p1 = np.array([float(line.split(",")[2]) for line in lines])
    assert (labels == (p1 >= threshold)).all()


@pytest.mark.slow
def test_an_export_carries_the_threshold_in_force(swept: dict[str, Any]) -> None:
    folder: SweepDir = swept["dir"]
    run_id = swept["best"]["run_id"]
    threshold = folder.client().get_run(run_id).data.metrics["threshold"]
    output = folder.path / "bc.keras"
    result = folder.invoke(
        "export", f"runs:/{run_id}/model", "--format", "keras", "--output", str(output), "--json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["threshold"] == threshold
    beside = json.loads((folder.path / "bc.keras.threshold.json").read_text(encoding="utf-8"))
    assert beside["threshold"] == threshold and beside["positive_class"]
    text = folder.invoke(
        "export", f"runs:/{run_id}/model", "--format", "keras", "--output", str(output)
    )
    assert f"decision threshold {threshold:.6g} in force" in text.stdout


@pytest.mark.slow
def test_the_report_draws_roc_pr_and_reliability(swept: dict[str, Any]) -> None:
    from hpo.reporting.build import write_report

    folder: SweepDir = swept["dir"]
    report = write_report("tiny", "bc", folder.path / "report", folder.uri, with_model=False)
    for name in ("per_class_metrics.png", "roc_curve.png", "pr_curve.png", "reliability.png"):
        assert name in report.files and (folder.path / "report" / name).stat().st_size > 1000
    assert not [n for n in report.notes if "ROC" in n]


@pytest.mark.slow
def test_both_runners_log_one_metric_schema() -> None:
    from hpo.data.dataset import load_dataset
    from hpo.models import get_builder
    from hpo.trial.pipeline import train_and_evaluate
    from hpo.trial.sklearn_cv import evaluate_candidate
    from hpo.trial.task import TrialInputs

    exp = Experiment.model_validate(tiny_experiment(**{"data.source": "iris"}))
    data = load_dataset(exp.data, exp.seed)
    params = {"learning_rate": 0.01, "units": 8, "batch_size": 64}
    inputs = TrialInputs(exp, data, params, 3, get_builder("mlp"), [])
    keras_fit, _ = train_and_evaluate(inputs)
    grid, _ = evaluate_candidate(inputs, cv="validation", n_jobs=1)
    assert keras_fit.state == grid.state == "COMPLETE", (keras_fit.error, grid.error)
    grid_names = {k for k in grid.metrics if not k.endswith("_std")}
    assert grid_names == set(keras_fit.metrics)
    assert {"roc_auc", "ece", "precision_0"} <= grid_names
    assert grid.confusion is not None and np.sum(grid.confusion) == len(data.y_val)


def test_the_model_card_names_the_threshold_in_force() -> None:
    from hpo.deploy.model_card import _threshold_lines

    assert _threshold_lines(None, ["no", "yes"]) == []
    (line,) = _threshold_lines(0.3125, ["no", "yes"])
    assert "decision threshold in force: **0.3125**" in line and "label `yes`" in line
