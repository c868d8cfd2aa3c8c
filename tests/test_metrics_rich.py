"""Richer trial metrics (hpo/scoring.py): each checked against scikit-learn on fixed
predictions, ECE against a hand-computed case, and every name usable as an objective, a
constraint and a `--where` clause with the right direction."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
)

from hpo.config.experiment import Constraint, Experiment, Objective
from hpo.config.selection import Where, direction_of, parse_where, select_trial
from hpo.metrics import SCORE_NAMES, lower_is_better
from hpo.scoring import (
    MAX_PER_CLASS,
    class_keys,
    evaluate,
    expected_calibration_error,
    metric_key,
    per_class_from_confusion,
)
from hpo.tracking.reads import TrialRecord
from tests.conftest import tiny_experiment


def _predictions(k: int, n: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fixed labels and informative, slightly tied probabilities (rows sum to 1)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    probs = np.round(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), 2)
    probs[:, -1] = 1.0 - probs[:, :-1].sum(axis=1)
    probs = np.clip(probs, 0.0, 1.0)
    return y, probs / probs.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("k", [2, 5])
def test_every_metric_matches_scikit_learn(k: int) -> None:
    y, probs = _predictions(k)
    names = [f"c{i}" for i in range(k)]
    got = evaluate(y, probs, names, "macro")
    approx = lambda v: pytest.approx(v, rel=1e-9, abs=1e-12)  # noqa: E731
    if k == 2:
        assert got["roc_auc"] == approx(roc_auc_score(y, probs[:, 1]))
        assert got["pr_auc"] == approx(average_precision_score(y, probs[:, 1]))
        assert got["brier"] == approx(brier_score_loss(y, probs[:, 1]))
    else:
        onehot = np.eye(k)[y]
        assert got["roc_auc"] == approx(roc_auc_score(y, probs, multi_class="ovr"))
        assert got["pr_auc"] == approx(average_precision_score(onehot, probs, average="macro"))
        assert got["brier"] == approx(brier_score_loss(y, probs, labels=np.arange(k)))
    assert got["log_loss"] == approx(log_loss(y, probs))
    p, r, f, s = precision_recall_fscore_support(y, probs.argmax(axis=1), zero_division=0)
    for i, name in enumerate(names):
        assert got[f"precision_{name}"] == approx(p[i])
        assert got[f"recall_{name}"] == approx(r[i])
        assert got[f"f1_{name}"] == approx(f[i])
        assert got[f"support_{name}"] == s[i]
    assert got["f1"] == approx(f.mean())
    assert 0.0 <= got["ece"] <= 1.0
    assert "threshold" not in got


@pytest.mark.parametrize(
    ("k", "average"), [(2, "binary"), (2, "weighted"), (4, "weighted"), (4, "micro"), (4, "macro")]
)
def test_label_metrics_match_scikit_learn_for_every_average(k: int, average: str) -> None:
    y, probs = _predictions(k)
    predicted = probs.argmax(axis=1)
    predicted[predicted == k - 1] = 0  # a class never predicted (macro still counts it)
    probs = np.eye(k)[predicted] * 0.9 + 0.1 / k
    got = evaluate(y, probs, [str(i) for i in range(k)], average)
    p, r, f, _ = precision_recall_fscore_support(y, predicted, average=average, zero_division=0)
    assert (got["precision"], got["recall"], got["f1"]) == pytest.approx((p, r, f))
    assert got["accuracy"] == pytest.approx((y == predicted).mean())


def test_ece_against_a_hand_computed_case() -> None:
    # confidences 0.9 / 0.91 share bin 13 of 15; 0.75, 0.62, 0.56 are alone in theirs
    probs = np.array([[0.1, 0.9], [0.09, 0.91], [0.75, 0.25], [0.38, 0.62], [0.44, 0.56]])
    y = np.array([1, 0, 1, 1, 1])  # right, wrong, wrong, right, right
    expected = (2 * abs(0.5 - 0.905) + abs(0 - 0.75) + abs(1 - 0.62) + abs(1 - 0.56)) / 5
    assert expected_calibration_error(y, probs) == pytest.approx(expected)
    # a perfectly calibrated, perfectly confident model has no calibration error
    assert expected_calibration_error(np.array([0, 1]), np.eye(2)) == 0.0


def test_a_threshold_changes_the_labels_only_for_a_binary_model() -> None:
    y, probs = _predictions(2)
    at_low = evaluate(y, probs, ["a", "b"], "binary", threshold=0.05)
    assert at_low["recall"] == 1.0 and at_low["threshold"] == 0.05
    assert at_low["roc_auc"] == evaluate(y, probs, ["a", "b"], "binary")["roc_auc"]
    y5, probs5 = _predictions(5)
    assert evaluate(y5, probs5, list("abcde"), "macro", threshold=0.05)["f1"] == pytest.approx(
        evaluate(y5, probs5, list("abcde"), "macro")["f1"]
    )


def test_class_names_become_valid_unique_metric_keys_and_stop_at_20_classes() -> None:
    assert metric_key("setosa") == "setosa"
    assert metric_key("no way/ÿes!") == "no_way__es_"
    assert class_keys(["a b", "a-b", "a_b"]) == ["a_b", "a_b_2", "a_b_3"]
    y, probs = _predictions(MAX_PER_CLASS + 1, n=MAX_PER_CLASS * 8)
    many = evaluate(y, probs, [str(i) for i in range(MAX_PER_CLASS + 1)], "macro")
    assert not any(key.startswith("precision_") for key in many)
    y, probs = _predictions(MAX_PER_CLASS, n=MAX_PER_CLASS * 8)
    names = [f"class {i}" for i in range(MAX_PER_CLASS)]
    assert "recall_class_19" in evaluate(y, probs, names, "macro")


def test_per_class_json_from_the_confusion_matrix_matches_the_predictions() -> None:
    from sklearn.metrics import confusion_matrix

    y, probs = _predictions(4)
    predicted = probs.argmax(axis=1)
    predicted[predicted == 3] = 0  # a class never predicted: precision 0, not NaN
    names = ["w", "x", "y", "z"]
    direct = precision_recall_fscore_support(y, predicted, labels=range(4), zero_division=0)
    from_matrix = per_class_from_confusion(confusion_matrix(y, predicted), names)
    assert from_matrix["classes"] == names
    for key, expected in zip(("precision", "recall", "f1", "support"), direct, strict=True):
        assert from_matrix[key] == pytest.approx(list(expected))
    assert from_matrix["precision"][3] == 0.0


def test_new_metrics_are_objectives_and_constraints_with_the_right_direction() -> None:
    for name in ("roc_auc", "pr_auc", "log_loss", "brier", "ece"):
        assert name in SCORE_NAMES
        objective = Objective.model_validate({"metric": name})
        lower = name in ("log_loss", "brier", "ece")
        assert objective.direction == ("minimize" if lower else "maximize")
        assert lower_is_better(name) is lower and lower_is_better(f"test_{name}") is lower
    assert str(Constraint.model_validate("ece <= 0.05")) == "ece <= 0.05"
    exp = Experiment.model_validate(
        tiny_experiment(**{"objective.metric": "log_loss", "constraints": ["roc_auc >= 0.9"]})
    )
    assert exp.primary.direction == "minimize"
    # a decision threshold moves label metrics only
    with pytest.raises(ValidationError, match="threshold: needs a metric of predicted labels"):
        Objective.model_validate({"metric": "roc_auc", "threshold": "tune"})
    with pytest.raises(ValidationError, match="exactly one"):
        Objective.model_validate({"threshold": {}})
    with pytest.raises(ValidationError, match="recall_at_precision: Input should be less"):
        Objective.model_validate({"threshold": {"recall_at_precision": 2}})
    with pytest.raises(ValidationError, match=r"write 'tune', .* not 'auto'"):
        Objective.model_validate({"threshold": "auto"})
    target = Objective.model_validate({"threshold": {"precision_at_recall": 0.9}})
    assert target.threshold_rule() == {"precision_at_recall": 0.9}


def test_new_metrics_and_per_class_metrics_select_trials_in_where_and_metric() -> None:
    def record(trial: int, log_loss: float, recall_b: float) -> TrialRecord:
        metrics = {"f1": 0.8, "log_loss": log_loss, "roc_auc": 0.9, "recall_b": recall_b}
        return TrialRecord(trial, f"r{trial}", "COMPLETE", {}, metrics, has_model=True)

    records = [record(0, 0.30, 0.9), record(1, 0.20, 0.5), record(2, 0.25, 0.8)]
    direction = direction_of("log_loss", "f1", "maximize")
    assert direction == "minimize"
    assert select_trial(records, "log_loss", direction, [], "f1", "maximize").trial == 1
    where = parse_where(["recall_b >= 0.75, roc_auc>0.5"], records)
    assert where[0] == Where("recall_b", ">=", 0.75)
    assert select_trial(records, "log_loss", direction, where, "f1", "maximize").trial == 2


def test_a_pruned_sweep_can_report_a_probability_metric_after_each_epoch() -> None:
    from hpo.trial.pruning import epoch_value
    from hpo.trial.task import TrialFailed

    y, probs = _predictions(3)
    assert epoch_value(probs, y, "log_loss", "macro") == pytest.approx(log_loss(y, probs))
    f1 = evaluate(y, probs, list("abc"), "macro")["f1"]
    assert epoch_value(probs, y, "f1", "macro") == pytest.approx(f1)
    assert epoch_value(probs.argmax(axis=1), y, "f1", "macro") == epoch_value(
        probs, y, "f1", "macro"
    )
    with pytest.raises(TrialFailed, match="NaN"):
        epoch_value(np.full_like(probs, np.nan), y, "roc_auc", "macro")
