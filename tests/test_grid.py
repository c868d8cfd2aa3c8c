"""Grid search: discretisation, enumeration order, resume, and GridSearchCV over SciKeras."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hpo.config.space import SearchSpaceSpec, compile_space
from hpo.search import create_strategy
from hpo.search.base import Outcome, SearchExhausted
from hpo.search.grid import enumerate_grid, grid_size, grid_values
from hpo.study.ledger import Ledger
from tests.conftest import tiny_experiment


def _space(raw: dict[str, Any]) -> Any:
    return compile_space(SearchSpaceSpec.model_validate(raw))


def test_ranges_are_discretised_linear_log_stepped_and_overridden() -> None:
    space = _space(
        {
            "params": {
                "lin": {"type": "float", "low": 0.0, "high": 1.0},
                "log": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
                "few": {"type": "int", "low": 1, "high": 2, "grid_points": 5},
                "step": {"type": "int", "low": 0, "high": 100, "step": 25},
                "given": {"type": "float", "low": 0.0, "high": 1.0, "values": [0.1, 0.9]},
                "one": {"type": "float", "low": 1.0, "high": 3.0, "grid_points": 1},
            }
        }
    )
    assert grid_values(space["lin"], 3) == [0.0, 0.5, 1.0]
    assert grid_values(space["log"], 3) == pytest.approx([1e-4, 1e-3, 1e-2])
    assert grid_values(space["few"], 3) == [1, 2]  # no duplicate ints
    assert grid_values(space["step"], 3) == [0, 50, 100]
    assert grid_values(space["given"], 3) == [0.1, 0.9]
    assert grid_values(space["one"], 3) == [2.0]


def test_enumeration_order_and_conditions() -> None:
    space = _space(
        {
            "params": {
                "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
                "momentum": {
                    "type": "float",
                    "low": 0.0,
                    "high": 0.9,
                    "grid_points": 2,
                    "when": {"opt": "sgd"},
                },
                "units": {"type": "categorical", "choices": [8, 16]},
            }
        }
    )
    grid = list(enumerate_grid(space, 3))
    assert grid == [  # search-space order, the last parameter changing fastest
        {"opt": "adam", "units": 8},
        {"opt": "adam", "units": 16},
        {"opt": "sgd", "momentum": 0.0, "units": 8},
        {"opt": "sgd", "momentum": 0.0, "units": 16},
        {"opt": "sgd", "momentum": 0.9, "units": 8},
        {"opt": "sgd", "momentum": 0.9, "units": 16},
    ]
    assert all(space.contains(c) for c in grid)
    assert grid_size(space, 3) == 6


def test_grid_strategy_asks_each_candidate_once_then_is_exhausted(tmp_path: Path) -> None:
    space = _space({"params": {"a": {"type": "categorical", "choices": [1, 2, 3]}}})
    ledger = Ledger.open(str(tmp_path / "l.journal"), "s", ["maximize"])
    strategy = create_strategy("grid", {}, space, ["maximize"], 0)
    strategy.attach(ledger)
    first = strategy.ask()
    ledger.finish(first.number, "COMPLETE", [0.5])
    strategy.tell(first, Outcome("COMPLETE", (0.5,)))
    # a new process resumes the study: the done candidate is skipped
    resumed = create_strategy("grid", {}, space, ["maximize"], 0)
    resumed.attach(Ledger.open(str(tmp_path / "l.journal"), "s", ["maximize"]))
    asked = [resumed.ask().params["a"] for _ in range(2)]
    assert first.params == {"a": 1} and asked == [2, 3]
    with pytest.raises(SearchExhausted):
        resumed.ask()


def test_grid_refuses_what_it_cannot_do() -> None:
    from hpo.errors import UserInputError

    space = _space({"params": {"a": {"type": "float", "low": 0, "high": 1}}})
    with pytest.raises(UserInputError, match="cannot prune"):
        create_strategy("grid", {}, space, ["maximize"], 0, pruner="asha")
    with pytest.raises(UserInputError, match="grid_points"):
        create_strategy("grid", {"grid_points": 0}, space, ["maximize"], 0)


def test_scikeras_subclass_is_a_classifier_so_integer_cv_stratifies() -> None:
    from scikeras.wrappers import KerasClassifier
    from sklearn.base import is_classifier
    from sklearn.model_selection import KFold, StratifiedKFold, check_cv

    from hpo.trial.sklearn_cv import HpoKerasClassifier

    y = np.array([0, 1] * 10)
    # the trap: scikeras 0.13 on scikit-learn >= 1.6 is not seen as a classifier
    assert not is_classifier(KerasClassifier())
    assert isinstance(check_cv(3, y, classifier=is_classifier(KerasClassifier())), KFold)
    assert is_classifier(HpoKerasClassifier())
    assert isinstance(
        check_cv(3, y, classifier=is_classifier(HpoKerasClassifier())), StratifiedKFold
    )


@pytest.mark.slow
def test_grid_sweep_end_to_end_with_budget_cut_resume_and_k_fold(cli, write_config, workdir):
    config = tiny_experiment(**{"budget.trials": 2, "strategy.name": "grid"})
    config["search_space"]["params"]["units"] = {"type": "int", "low": 8, "high": 32}
    config["search_space"]["params"]["learning_rate"]["grid_points"] = 1
    path = write_config(config)
    first = cli("run", str(path), "--study", "g", "--json")
    assert first.returncode == 0, first.stderr
    assert "cuts the grid of 3 candidates" in first.stderr
    assert json.loads(first.stdout)["states"]["COMPLETE"] == 2
    again = cli("run", str(path), "--study", "g", "--trials", "10", "--json")
    summary = json.loads(again.stdout)
    assert summary["n_trials"] == 3  # one new candidate; then the grid is exhausted
    listed = json.loads(cli("trials", "tiny", "--study", "g", "--format", "json").stdout)
    assert sorted(row["params"]["units"] for row in listed) == [8, 20, 32]  # typed
    assert len({json.dumps(r["params"], sort_keys=True) for r in listed}) == 3

    config["strategy"]["options"] = {"cv": 2}
    config["name"] = "tiny-kfold"
    done = cli("run", str(write_config(config, name="kfold.yaml")), "--json", "--trials", "1")
    assert done.returncode == 0, done.stderr
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("tiny-kfold").experiment_id])
    trial = next(r for r in runs if r.data.tags["hpo.kind"] == "trial")
    assert {"f1", "f1_std", "accuracy_std"} <= set(trial.data.metrics)
    assert trial.data.metrics["f1_std"] >= 0.0
