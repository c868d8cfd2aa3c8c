"""Strategy contract tests: every strategy runs the same checks on a cheap numpy objective.

Add a backend by subclassing `StrategyContract` and setting `name` (and `guided` when the
strategy should learn from results).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from hpo.config.space import SearchSpace, SearchSpaceSpec, compile_space
from hpo.errors import UserInputError
from hpo.search import REGISTRY, create_strategy
from hpo.search.base import Direction, Outcome, Strategy, TrialRequest
from hpo.search.vector import VectorStrategy
from hpo.study.ledger import Ledger

SPACE: dict[str, Any] = {
    "params": {
        "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        "optimizer": {"type": "categorical", "choices": ["adam", "sgd", "rmsprop"]},
        "momentum": {"type": "float", "low": 0.0, "high": 0.9, "when": {"optimizer": "sgd"}},
        "x": {"type": "float", "low": -5.0, "high": 5.0},
        "batch_size": 32,
    },
    "layers": {
        "n_layers": {
            "count": {"low": 1, "high": 3},
            "per_layer": {"units": {"type": "int", "low": 8, "high": 64}},
        }
    },
}


def _space() -> SearchSpace:
    return compile_space(SearchSpaceSpec.model_validate(SPACE))


def score(params: dict[str, Any]) -> float:
    """A smooth objective to maximise: best near x=2, lr=1e-2, wide first layer, adam."""
    value = -((params["x"] - 2.0) ** 2)
    value -= (math.log10(params["learning_rate"]) + 2.0) ** 2
    value += params["units_0"] / 64.0
    value += 0.5 if params["optimizer"] == "adam" else 0.0
    return float(value)


class StrategyContract:
    """What every strategy must do; subclasses set `name`."""

    name: ClassVar[str]
    guided: ClassVar[bool] = True  # should results steer later suggestions?
    options: ClassVar[dict[str, Any]] = {}
    direction_trials: ClassVar[int] = 30

    # ------------------------------------------------------------------ helpers

    def open(self, tmp_path: Path, direction: Direction = "maximize") -> Ledger:
        return Ledger.open(str(tmp_path / "l.journal"), "study", [direction])

    def make(self, ledger: Ledger, seed: int = 0, direction: Direction = "maximize") -> Strategy:
        strategy = create_strategy(self.name, dict(self.options), _space(), [direction], seed)
        strategy.attach(ledger)
        return strategy

    def run(
        self,
        strategy: Strategy,
        n: int,
        objective: Any = score,
    ) -> list[tuple[TrialRequest, float]]:
        """Ask, evaluate and tell `n` trials, returning the requests and values."""
        done = []
        for _ in range(n):
            request = strategy.ask()
            value = float(objective(request.params))
            strategy.ledger.finish(request.number, "COMPLETE", [value])
            strategy.tell(request, Outcome("COMPLETE", (value,)))
            done.append((request, value))
        return done

    # ------------------------------------------------------------------ contract

    def test_registered(self) -> None:
        assert self.name in REGISTRY

    def test_ask_before_attach_is_an_error(self) -> None:
        strategy = create_strategy(self.name, dict(self.options), _space(), ["maximize"], 0)
        with pytest.raises(RuntimeError, match="attach"):
            strategy.ask()

    def test_suggestions_are_valid_points(self, tmp_path: Path) -> None:
        space = _space()
        strategy = self.make(self.open(tmp_path))
        done = self.run(strategy, 25)
        layers = set()
        optimizers = set()
        for number, (request, _) in enumerate(done):
            assert request.number == number
            assert space.contains(request.params), request.params
            assert request.params["batch_size"] == 32
            assert ("momentum" in request.params) == (request.params["optimizer"] == "sgd")
            layers.add(request.params["n_layers"])
            optimizers.add(request.params["optimizer"])
        # conditional branches are explored, not just one arm
        assert len(layers) >= 2
        assert len(optimizers) >= 2
        # the ledger holds exactly what was asked
        stored = strategy.ledger.trials()
        assert [t.params for t in stored] == [r.params for r, _ in done]
        assert all(t.state == "COMPLETE" for t in stored)

    def test_same_seed_same_sequence(self, tmp_path: Path) -> None:
        a = self.run(self.make(self.open(tmp_path / "a"), seed=7), 15)
        b = self.run(self.make(self.open(tmp_path / "b"), seed=7), 15)
        assert [r.params for r, _ in a] == [r.params for r, _ in b]

    def test_other_seed_other_sequence(self, tmp_path: Path) -> None:
        a = self.run(self.make(self.open(tmp_path / "a"), seed=7), 5)
        b = self.run(self.make(self.open(tmp_path / "b"), seed=8), 5)
        assert [r.params for r, _ in a] != [r.params for r, _ in b]
        assert a[0][0].params != b[0][0].params

    @pytest.mark.parametrize("direction", ["maximize", "minimize"])
    def test_direction_is_honoured(self, tmp_path: Path, direction: Direction) -> None:
        sign = 1.0 if direction == "maximize" else -1.0
        ledger = self.open(tmp_path, direction)
        strategy = self.make(ledger, seed=1, direction=direction)
        n = self.direction_trials
        done = self.run(strategy, n, lambda p: sign * score(p))
        values = np.array([v for _, v in done])
        # the ledger's best trial follows the direction
        best = values.max() if direction == "maximize" else values.min()
        assert ledger.study.best_value == pytest.approx(best)
        if self.guided:
            # in objective terms (higher is better), the guided trials beat the random start
            goodness = sign * values
            third = n // 3
            assert goodness.max() > np.median(goodness[:5])
            assert np.median(goodness[-third:]) > np.median(goodness[:third])

    def test_failed_and_nan_outcomes_do_not_break_later_asks(self, tmp_path: Path) -> None:
        space = _space()
        ledger = self.open(tmp_path)
        strategy = self.make(ledger)
        for i in range(14):
            request = strategy.ask()
            if i % 3 == 0:
                ledger.finish(request.number, "COMPLETE", [math.nan])
                strategy.tell(request, Outcome("COMPLETE", (math.nan,)))
            elif i % 3 == 1:
                ledger.finish(request.number, "FAIL", None, error="boom")
                strategy.tell(request, Outcome("FAIL"))
            else:
                value = score(request.params)
                ledger.finish(request.number, "COMPLETE", [value])
                strategy.tell(request, Outcome("COMPLETE", (value,)))
        states = [t.state for t in ledger.trials()]
        assert states.count("FAIL") == 10
        assert states.count("COMPLETE") == 4
        # past TPE's startup trials: the model is fitted on what completed
        for request, _ in self.run(strategy, 5):
            assert space.contains(request.params)
        assert ledger.trials()[-1].number == 18

    def test_resume_continues_numbering_without_repeating(self, tmp_path: Path) -> None:
        first = self.run(self.make(self.open(tmp_path), seed=3), 4)
        # a new process: reopen the study and attach a fresh strategy with the same seed
        resumed_ledger = self.open(tmp_path)
        resumed = self.make(resumed_ledger, seed=3)
        request = resumed.ask()
        assert request.number == 4
        assert request.params != first[0][0].params
        assert all(request.params != r.params for r, _ in first)
        assert _space().contains(request.params)
        assert len(resumed_ledger.trials()) == 5

    def test_resume_is_deterministic(self, tmp_path: Path) -> None:
        asked = []
        for where in ("a", "b"):
            self.run(self.make(self.open(tmp_path / where), seed=3), 4)
            asked.append(self.make(self.open(tmp_path / where), seed=3).ask().params)
        assert asked[0] == asked[1]

    def test_resume_after_interrupted_trial(self, tmp_path: Path) -> None:
        ledger = self.open(tmp_path)
        strategy = self.make(ledger)
        self.run(strategy, 3)
        strategy.ask()  # its process dies before finishing
        reopened = self.open(tmp_path)
        assert reopened.fail_running("stale") == [3]
        resumed = self.make(reopened)
        request = resumed.ask()
        assert request.number == 4
        assert _space().contains(request.params)

    def test_two_workers_on_one_ledger_never_repeat_a_point(self, tmp_path: Path) -> None:
        # two orchestrators (seeds differ, as `hpo worker` makes them) ask while the other's
        # trial is still running, then both tell: no configuration is evaluated twice
        ledger = self.open(tmp_path)
        workers = [self.make(ledger, seed=1), self.make(self.open(tmp_path), seed=2)]
        asked: list[dict[str, Any]] = []
        for _ in range(8):
            requests = [(worker, worker.ask()) for worker in workers]
            for worker, request in requests:
                value = score(request.params)
                worker.ledger.finish(request.number, "COMPLETE", [value])
                worker.tell(request, Outcome("COMPLETE", (value,)))
                asked.append(request.params)
        assert len(ledger.trials()) == 16
        assert all(a != b for i, a in enumerate(asked) for b in asked[i + 1 :])


class VectorContract(StrategyContract):
    """Backends outside Optuna (bayes_opt, skopt) do not see the ledger themselves."""

    warm: ClassVar[int] = 12  # past every backend's random initial points

    def vector(self, ledger: Ledger, seed: int) -> VectorStrategy:
        strategy = self.make(ledger, seed=seed)
        assert isinstance(strategy, VectorStrategy)
        return strategy

    def test_learns_what_other_workers_finished(self, tmp_path: Path) -> None:
        ledger = self.open(tmp_path)
        mine = self.vector(ledger, seed=1)
        other = self.vector(self.open(tmp_path), seed=2)
        self.run(other, 6)
        assert mine.observed == 0
        request = mine.ask()  # catches up before proposing
        assert mine.observed == 6
        ledger.finish(request.number, "COMPLETE", [score(request.params)])
        mine.tell(request, Outcome("COMPLETE", (score(request.params),)))
        other.ask()
        assert other.observed == 7  # its own 6 and mine, each once

    def test_pending_points_get_the_constant_liar(self, tmp_path: Path) -> None:
        ledger = self.open(tmp_path)
        self.run(self.make(ledger, seed=0), self.warm)
        # three workers in the same state (same seed, same history): the worst case
        first, second, control = (self.vector(self.open(tmp_path), seed=5) for _ in range(3))
        running = first.ask()  # still training when the second worker asks
        pending_point = first._pending[running.number]
        # without pending points the backend is deterministic: it would propose the same
        assert control._propose([], None) == pending_point
        assert second.ask().params != running.params


class TestRandom(StrategyContract):
    name = "random"
    guided = False


class TestTPE(StrategyContract):
    name = "optuna-tpe"
    options: ClassVar[dict[str, Any]] = {"n_startup_trials": 10}


class TestGP(StrategyContract):
    name = "optuna-gp"
    options: ClassVar[dict[str, Any]] = {"n_startup_trials": 8}


class TestCmaEs(StrategyContract):
    name = "optuna-cmaes"


class TestQMC(StrategyContract):
    name = "optuna-qmc"
    guided = False


class TestNSGA2(StrategyContract):
    name = "optuna-nsga2"
    options: ClassVar[dict[str, Any]] = {"population_size": 8}


class TestBayesOpt(VectorContract):
    name = "bayes-opt"
    direction_trials = 18  # each suggestion optimises a GP acquisition: ~1 s here


@pytest.mark.parametrize("acquisition", ["ei", "poi"])
def test_bayes_opt_acquisitions_propose_valid_points(tmp_path: Path, acquisition: str) -> None:
    ledger = Ledger.open(str(tmp_path / "l.journal"), "study", ["maximize"])
    strategy = create_strategy(
        "bayes-opt", {"acquisition": acquisition, "n_initial_points": 2}, _space(), ["maximize"], 0
    )
    strategy.attach(ledger)
    for _ in range(4):
        request = strategy.ask()
        assert _space().contains(request.params)
        value = score(request.params)
        ledger.finish(request.number, "COMPLETE", [value])
        strategy.tell(request, Outcome("COMPLETE", (value,)))


class TestSkoptGP(VectorContract):
    name = "skopt-gp"


class TestSkoptForest(VectorContract):
    name = "skopt-forest"


class TestSkoptGBRT(VectorContract):
    name = "skopt-gbrt"


# --------------------------------------------------------------------------- create_strategy


def test_unknown_strategy() -> None:
    with pytest.raises(UserInputError) as info:
        create_strategy("annealing", {}, _space(), ["maximize"], 0)
    assert info.value.field == "strategy.name"
    assert "unknown strategy 'annealing'" in info.value.detail
    assert "optuna-tpe" in info.value.detail and "random" in info.value.detail


@pytest.mark.parametrize("name", ["random", "optuna-tpe"])
def test_unknown_option(name: str) -> None:
    with pytest.raises(UserInputError) as info:
        create_strategy(name, {"bogus": 1}, _space(), ["maximize"], 0)
    assert info.value.field == "strategy.options.bogus"
    assert info.value.detail == f"unknown option for strategy {name!r}"


def test_bad_option_value() -> None:
    with pytest.raises(UserInputError) as info:
        create_strategy("optuna-tpe", {"n_startup_trials": "many"}, _space(), ["maximize"], 0)
    assert info.value.field == "strategy.options.n_startup_trials"
    assert "integer" in info.value.detail


@pytest.mark.parametrize("name", ["bayes-opt", "skopt-gp", "optuna-cmaes"])
def test_multi_objective_is_refused_by_single_objective_backends(name: str) -> None:
    with pytest.raises(UserInputError) as info:
        create_strategy(name, {}, _space(), ["maximize", "minimize"], 0)
    assert info.value.field == "strategy.name"
    assert "one objective" in info.value.detail


@pytest.mark.parametrize("name", ["bayes-opt", "skopt-forest"])
def test_pruning_is_refused_by_backends_that_cannot_prune(name: str) -> None:
    with pytest.raises(UserInputError) as info:
        create_strategy(name, {}, _space(), ["maximize"], 0, pruner="median")
    assert "cannot prune" in info.value.detail


def test_options_are_parsed() -> None:
    strategy = create_strategy(
        "optuna-tpe", {"n_startup_trials": 3, "multivariate": False}, _space(), ["maximize"], 5
    )
    assert strategy.options.n_startup_trials == 3  # type: ignore[attr-defined]
    assert strategy.options.multivariate is False  # type: ignore[attr-defined]
    assert strategy.seed == 5
    assert strategy.directions == ("maximize",)


@pytest.mark.parametrize("liar", ["min", "mean", "max"])
def test_the_liar_is_the_chosen_summary_of_the_losses(tmp_path: Path, liar: str) -> None:
    ledger = Ledger.open(str(tmp_path / "l.journal"), "study", ["maximize"])
    strategy = create_strategy("skopt-forest", {"liar": liar}, _space(), ["maximize"], 0)
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
        create_strategy("bayes-opt", {"liar": "optimistic"}, _space(), ["maximize"], 0)


def test_outcome_usable() -> None:
    assert Outcome("COMPLETE", (0.5,)).usable
    assert not Outcome("COMPLETE", (math.nan,)).usable
    assert not Outcome("COMPLETE", None).usable
    assert not Outcome("FAIL").usable
    assert not Outcome("PRUNED", (0.5,)).usable
