"""What "better" means (hpo.config.selection): directions, where-clauses, the promotion pick."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from hpo.config.experiment import Constraint
from hpo.config.selection import Where, direction_of, parse_where, select_trial
from hpo.errors import UserInputError
from hpo.metrics import lower_is_better


@dataclass(frozen=True)
class Run:
    trial: int
    metrics: dict[str, float]
    params: dict[str, str] = field(default_factory=dict)
    state: str = "COMPLETE"
    has_model: bool = True


@pytest.mark.parametrize(
    ("metric", "lower"),
    [
        ("loss", True),
        ("val_loss", True),
        ("n_params", True),
        ("fit_seconds", True),
        ("predict_seconds", True),
        ("f1", False),
        ("precision", False),
        ("accuracy", False),
    ],
)
def test_costs_losses_and_durations_are_minimized(metric: str, lower: bool) -> None:
    assert lower_is_better(metric) is lower
    assert direction_of(metric, "f1", "maximize") == ("minimize" if lower else "maximize")


def test_the_sweep_objective_keeps_the_sweep_direction() -> None:
    assert direction_of("f1", "f1", "minimize") == "minimize"
    assert direction_of("n_params", "n_params", "maximize") == "maximize"


def test_where_reads_metrics_then_numeric_parameters() -> None:
    run = Run(0, {"precision": 0.9}, {"units": "16", "activation": "relu"})
    assert Where("precision", ">=", 0.9).holds(run)
    assert not Where("precision", ">", 0.9).holds(run)
    assert Where("units", "==", 16).holds(run)
    assert Where("units", "!=", 8).holds(run)
    assert not Where("activation", "==", 1).holds(run)  # not a number: never holds
    assert not Where("recall", ">=", 0).holds(run)  # unknown: never holds
    assert str(Where("precision", ">=", 0.9)) == "precision>=0.9"


def test_a_config_constraint_becomes_a_where_clause() -> None:
    clause = Where.of(Constraint.model_validate("precision >= 0.8"))
    assert clause == Where("precision", ">=", 0.8)


def test_parse_where_splits_commas_and_names_the_problem() -> None:
    runs = [Run(0, {"precision": 0.9, "f1": 0.5}, {"units": "8"})]
    assert parse_where(["precision>=0.9, units<=8", "f1>0"], runs) == [
        Where("precision", ">=", 0.9),
        Where("units", "<=", 8),
        Where("f1", ">", 0),
    ]
    with pytest.raises(UserInputError, match="write NAME OP NUMBER"):
        parse_where(["precision"], runs)
    with pytest.raises(UserInputError, match="'high' is not a number"):
        parse_where(["precision>=high"], runs)
    with pytest.raises(UserInputError, match=r"no metric or parameter 'recall'.*known: f1"):
        parse_where(["recall>=0.5"], runs)


def test_select_trial_ties_go_to_the_objective_then_the_earlier_trial() -> None:
    runs = [
        Run(0, {"precision": 0.5, "f1": 0.5}),
        Run(1, {"precision": 0.5, "f1": 0.7}),
        Run(2, {"precision": 0.5, "f1": 0.7}),
        Run(3, {"precision": 0.9, "f1": float("nan")}, state="FAIL"),
    ]
    assert select_trial(runs, "precision", "maximize", [], "f1", "maximize").trial == 1
    assert select_trial(runs, "precision", "maximize", [], "f1", "minimize").trial == 0


def test_select_trial_refusals_name_the_flag() -> None:
    with pytest.raises(UserInputError, match="--study: no completed trial"):
        select_trial([Run(0, {"f1": 1}, state="FAIL")], "f1", "maximize", [], "f1", "maximize")
    with pytest.raises(UserInputError, match="--metric: no trial has metric 'auc'"):
        select_trial([Run(0, {"f1": 1})], "auc", "maximize", [], "f1", "maximize")
    with pytest.raises(UserInputError, match="--where: no completed trial meets f1>=2"):
        select_trial(
            [Run(0, {"f1": 1})], "f1", "maximize", [Where("f1", ">=", 2)], "f1", "maximize"
        )
    with pytest.raises(UserInputError, match="has a logged model"):
        select_trial([Run(0, {"f1": 1}, has_model=False)], "f1", "maximize", [], "f1", "maximize")
