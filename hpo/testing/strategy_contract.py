"""The strategy contract: what every search strategy must do, as pytest tests to subclass.

Every built-in strategy passes it (tests/test_strategies.py), and a new one should too:

    from hpo.testing.strategy_contract import StrategyContract

    class TestMyStrategy(StrategyContract):
        strategy_name = "my-strategy"  # its name in hpo.search.REGISTRY
        options = {"n_startup_trials": 5}  # its `strategy.options` for these tests
        guided = True  # should results steer later suggestions?

then run pytest on that file. The checks ask, evaluate and tell on a cheap numpy objective
(`score`) over a space with a log-scale float, a categorical, a conditional parameter, a fixed
value and a per-layer group (`SPACE`), with a real journal-file ledger in pytest's
`tmp_path`: suggestions are valid points, conditions hold, seeds decide the sequence, the
direction is honoured, failures and NaN do not break later asks, resume continues without
repeating, and two workers interleaving on one ledger never evaluate a point twice.
Override `create` to build the strategy some other way than through the registry.

A strategy on `hpo.search.vector.VectorStrategy` (its backend never reads the ledger itself)
subclasses `VectorStrategyContract`, which adds catching up with other workers' trials and
the constant liar for points still running.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from hpo.config.space import SearchSpace, SearchSpaceSpec, compile_space
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


def contract_space() -> SearchSpace:
    """`SPACE` in the neutral form strategies take."""
    return compile_space(SearchSpaceSpec.model_validate(SPACE))


def score(params: dict[str, Any]) -> float:
    """A smooth objective to maximise: best near x=2, lr=1e-2, wide first layer, adam."""
    value = -((params["x"] - 2.0) ** 2)
    value -= (math.log10(params["learning_rate"]) + 2.0) ** 2
    value += params["units_0"] / 64.0
    value += 0.5 if params["optimizer"] == "adam" else 0.0
    return float(value)


class StrategyContract:
    """What every strategy must do; subclasses set `strategy_name` (and the knobs below)."""

    strategy_name: ClassVar[str]
    guided: ClassVar[bool] = True  # should results steer later suggestions?
    options: ClassVar[dict[str, Any]] = {}
    direction_trials: ClassVar[int] = 30  # trials in the direction test (fewer if slow)
    sequence_trials: ClassVar[int] = 15  # trials in the same-seed test (fewer if slow)
    valid_points_trials: ClassVar[int] = 25  # trials in the valid-points test (fewer if slow)

    # ------------------------------------------------------------------ helpers

    def create(self, space: SearchSpace, directions: Sequence[Direction], seed: int) -> Strategy:
        """The strategy under test, not yet attached to a ledger."""
        return create_strategy(self.strategy_name, dict(self.options), space, directions, seed)

    def open(self, tmp_path: Path, direction: Direction = "maximize") -> Ledger:
        return Ledger.open(str(tmp_path / "l.journal"), "study", [direction])

    def make(self, ledger: Ledger, seed: int = 0, direction: Direction = "maximize") -> Strategy:
        strategy = self.create(contract_space(), [direction], seed)
        strategy.attach(ledger)
        return strategy

    def run(
        self,
        strategy: Strategy,
        n: int,
        objective: Callable[[dict[str, Any]], float] = score,
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
        """Built by name, the strategy must be in hpo's registry; a user's own strategy that
        overrides `create()` only has to be a `Strategy`."""
        strategy = self.create(contract_space(), ["maximize"], 0)
        assert isinstance(strategy, Strategy)
        if type(self).create is StrategyContract.create:
            assert self.strategy_name in REGISTRY

    def test_ask_before_attach_is_an_error(self) -> None:
        strategy = self.create(contract_space(), ["maximize"], 0)
        with pytest.raises(RuntimeError, match="attach"):
            strategy.ask()

    def test_suggestions_are_valid_points(self, tmp_path: Path) -> None:
        space = contract_space()
        strategy = self.make(self.open(tmp_path))
        done = self.run(strategy, self.valid_points_trials)
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
        a = self.run(self.make(self.open(tmp_path / "a"), seed=7), self.sequence_trials)
        b = self.run(self.make(self.open(tmp_path / "b"), seed=7), self.sequence_trials)
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
        space = contract_space()
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
        assert contract_space().contains(request.params)
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
        assert contract_space().contains(request.params)

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


class VectorStrategyContract(StrategyContract):
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
