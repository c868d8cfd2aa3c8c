"""Strategies that are Optuna samplers asking directly on the ledger study."""

from __future__ import annotations

import warnings
from typing import ClassVar

import optuna

from hpo.ledger import suggest
from hpo.strategies.base import (
    Capabilities,
    Strategy,
    StrategyOptions,
    TrialRequest,
)


class OptunaStrategy(Strategy):
    """Base for Optuna samplers: define-by-run over the neutral space keeps conditions."""

    # Optuna can prune and do multi-objective; hpo wires both up with the strategies issue
    capabilities = Capabilities(pruning=False, multi_objective=False)

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        raise NotImplementedError

    def attach(self, ledger: object) -> None:
        super().attach(ledger)  # type: ignore[arg-type]
        # On resume, a sampler seeded as before would replay its first suggestions; offset
        # the seed by the trials already in the study so a resumed run stays deterministic.
        self.ledger.study.sampler = self.make_sampler(self.seed + len(self.ledger.trials()))

    def ask(self) -> TrialRequest:
        trial = self.ledger.study.ask()
        params = self.space.sample(lambda param: suggest(trial, param))
        return TrialRequest(trial.number, params)


class RandomOptions(StrategyOptions):
    pass


class RandomStrategy(OptunaStrategy):
    name = "random"
    Options = RandomOptions

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.RandomSampler(seed=seed)


class TPEOptions(StrategyOptions):
    n_startup_trials: int = 10
    multivariate: bool = True
    constant_liar: bool = True


class TPEStrategy(OptunaStrategy):
    name = "optuna-tpe"
    Options: ClassVar[type[StrategyOptions]] = TPEOptions

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        opts = self.options
        assert isinstance(opts, TPEOptions)
        with warnings.catch_warnings():  # `group` is marked experimental but long stable
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(
                seed=seed,
                n_startup_trials=opts.n_startup_trials,
                multivariate=opts.multivariate,
                group=opts.multivariate,
                constant_liar=opts.constant_liar,
            )
