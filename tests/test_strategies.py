"""Every registered strategy passes the shipped contract (hpo/testing/strategy_contract.py)
on a cheap numpy objective; then what is specific to one backend or to `create_strategy`.

Add a backend by subclassing `StrategyContract` and setting `strategy_name` (and `guided`
when the strategy should learn from results).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import pytest

from hpo.errors import UserInputError
from hpo.search import create_strategy
from hpo.search.base import Outcome
from hpo.search.vector import VectorStrategy
from hpo.study.ledger import Ledger
from hpo.testing.strategy_contract import (
    StrategyContract,
    VectorStrategyContract,
    contract_space,
    score,
)


class TestRandom(StrategyContract):
    strategy_name = "random"
    guided = False


class TestTPE(StrategyContract):
    strategy_name = "optuna-tpe"
    options: ClassVar[dict[str, Any]] = {"n_startup_trials": 10}


class TestGP(StrategyContract):
    strategy_name = "optuna-gp"
    options: ClassVar[dict[str, Any]] = {"n_startup_trials": 6}
    direction_trials = 18  # each suggestion fits a GP (PyTorch): ~1 s here
    sequence_trials = 10
    valid_points_trials = 14


class TestCmaEs(StrategyContract):
    strategy_name = "optuna-cmaes"


class TestQMC(StrategyContract):
    strategy_name = "optuna-qmc"
    guided = False


class TestNSGA2(StrategyContract):
    strategy_name = "optuna-nsga2"
    options: ClassVar[dict[str, Any]] = {"population_size": 8}


class TestBayesOpt(VectorStrategyContract):
    strategy_name = "bayes-opt"
    direction_trials = 18  # each suggestion optimises a GP acquisition: ~1 s here
    sequence_trials = 10
    valid_points_trials = 14


@pytest.mark.parametrize("acquisition", ["ei", "poi"])
def test_bayes_opt_acquisitions_propose_valid_points(tmp_path: Path, acquisition: str) -> None:
    ledger = Ledger.open(str(tmp_path / "l.journal"), "study", ["maximize"])
    strategy = create_strategy(
        "bayes-opt",
        {"acquisition": acquisition, "n_initial_points": 2},
        contract_space(),
        ["maximize"],
        0,
    )
    strategy.attach(ledger)
    for _ in range(4):
        request = strategy.ask()
        assert contract_space().contains(request.params)
        value = score(request.params)
        ledger.finish(request.number, "COMPLETE", [value])
        strategy.tell(request, Outcome("COMPLETE", (value,)))


class TestSkoptGP(VectorStrategyContract):
    strategy_name = "skopt-gp"
    direction_trials = 18  # each suggestion fits a GP and optimises its acquisition
    sequence_trials = 12
    valid_points_trials = 14


class TestSkoptForest(VectorStrategyContract):
    strategy_name = "skopt-forest"


class TestSkoptGBRT(VectorStrategyContract):
    strategy_name = "skopt-gbrt"


# --------------------------------------------------------------------------- create_strategy


def test_unknown_strategy() -> None:
    with pytest.raises(UserInputError) as info:
        create_strategy("annealing", {}, contract_space(), ["maximize"], 0)
    assert info.value.field == "strategy.name"
    assert "unknown strategy 'annealing'" in info.value.detail
    assert "optuna-tpe" in info.value.detail and "random" in info.value.detail


@pytest.mark.parametrize("name", ["random", "optuna-tpe"])
def test_unknown_option(name: str) -> None:
    with pytest.raises(UserInputError) as info:
        create_strategy(name, {"bogus": 1}, contract_space(), ["maximize"], 0)
    assert info.value.field == "strategy.options.bogus"
    assert info.value.detail == f"unknown option for strategy {name!r}"


def test_bad_option_value() -> None:
    with pytest.raises(UserInputError) as info:
        create_strategy(
            "optuna-tpe", {"n_startup_trials": "many"}, contract_space(), ["maximize"], 0
        )
    assert info.value.field == "strategy.options.n_startup_trials"
    assert "integer" in info.value.detail


@pytest.mark.parametrize("name", ["bayes-opt", "skopt-gp", "optuna-cmaes"])
def test_multi_objective_is_refused_by_single_objective_backends(name: str) -> None:
    with pytest.raises(UserInputError) as info:
        create_strategy(name, {}, contract_space(), ["maximize", "minimize"], 0)
    assert info.value.field == "strategy.name"
    assert "one objective" in info.value.detail


@pytest.mark.parametrize("name", ["bayes-opt", "skopt-forest"])
def test_pruning_is_refused_by_backends_that_cannot_prune(name: str) -> None:
    with pytest.raises(UserInputError) as info:
        create_strategy(name, {}, contract_space(), ["maximize"], 0, pruner="median")
    assert "cannot prune" in info.value.detail


def test_options_are_parsed() -> None:
    strategy = create_strategy(
        "optuna-tpe",
        {"n_startup_trials": 3, "multivariate": False},
        contract_space(),
        ["maximize"],
        5,
    )
    assert strategy.options.n_startup_trials == 3  # type: ignore[attr-defined]
    assert strategy.options.multivariate is False  # type: ignore[attr-defined]
    assert strategy.seed == 5
    assert strategy.directions == ("maximize",)


@pytest.mark.parametrize("liar", ["min", "mean", "max"])
def test_the_liar_is_the_chosen_summary_of_the_losses(tmp_path: Path, liar: str) -> None:
    ledger = Ledger.open(str(tmp_path / "l.journal"), "study", ["maximize"])
    strategy = create_strategy("skopt-forest", {"liar": liar}, contract_space(), ["maximize"], 0)
    assert isinstance(strategy, VectorStrategy)
    strategy.attach(ledger)
    values = [1.0, 2.0, 6.0]
    for value in values:
        request = strategy.ask()
        ledger.finish(request.number, "COMPLETE", [value])
        strategy.tell(request, Outcome("COMPLETE", (value,)))
    losses = [-v for v in values]  # maximised: the backend minimises the negation
    expected = {"min": min(losses), "mean": sum(losses) / 3, "max": max(losses)}[liar]
    assert strategy._lie() == pytest.approx(expected)


def test_an_unknown_liar_is_refused() -> None:
    with pytest.raises(UserInputError, match="liar"):
        create_strategy("bayes-opt", {"liar": "optimistic"}, contract_space(), ["maximize"], 0)


def test_outcome_usable() -> None:
    assert Outcome("COMPLETE", (0.5,)).usable
    assert not Outcome("COMPLETE", (math.nan,)).usable
    assert not Outcome("COMPLETE", None).usable
    assert not Outcome("FAIL").usable
    assert not Outcome("PRUNED", (0.5,)).usable
