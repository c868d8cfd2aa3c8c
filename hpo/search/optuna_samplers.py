"""Strategies that are Optuna samplers asking directly on the ledger study.

Define-by-run over the neutral space keeps conditional parameters exact: a sampler only
ever sees the parameters that are active. Samplers that model only some kinds (CMA-ES and
QMC are continuous, GP models conditionals poorly) fall back to Optuna's independent
sampler for the rest; `capabilities.notes` says so in `hpo strategies`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, Literal

import optuna
from optuna.trial import FrozenTrial

from hpo.search.base import Capabilities, Strategy, StrategyOptions, TrialRequest
from hpo.study.ledger import METRICS_ATTR


@contextmanager
def _quiet_experimental() -> Iterator[None]:
    """Optuna marks long-stable options (group, constant_liar) experimental; users need
    not see that warning on every run."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


class OptunaStrategy(Strategy):
    """Base for Optuna samplers. Subclasses build the sampler; pruning happens in the
    training process through Optuna's pruners on the same study."""

    capabilities = Capabilities(pruning=True, multi_objective=True)

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        raise NotImplementedError

    def attach(self, ledger: Any) -> None:
        super().attach(ledger)
        # On resume, a sampler seeded as before would replay its first suggestions; offset
        # the seed by the trials already in the study so a resumed run stays deterministic.
        with _quiet_experimental():
            self.ledger.study.sampler = self.make_sampler(self.seed + len(self.ledger.trials()))

    def ask(self) -> TrialRequest:
        return TrialRequest(*self.ledger.ask_sampled(self.space))

    def constraints_func(self) -> Callable[[FrozenTrial], Sequence[float]] | None:
        """Optuna's constraint values (<= 0 feasible) from the metrics the ledger stores."""
        if not self.constraints:
            return None
        constraints = self.constraints

        def values(trial: FrozenTrial) -> Sequence[float]:
            metrics = trial.user_attrs.get(METRICS_ATTR, {})
            return [
                c.violation(metrics[c.metric])
                if isinstance(metrics.get(c.metric), float | int)
                and math.isfinite(metrics[c.metric])
                else math.inf
                for c in constraints
            ]

        return values


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
        return optuna.samplers.TPESampler(
            seed=seed,
            n_startup_trials=opts.n_startup_trials,
            multivariate=opts.multivariate,
            group=opts.multivariate,
            constant_liar=opts.constant_liar,
            constraints_func=self.constraints_func(),
        )


class GPOptions(StrategyOptions):
    n_startup_trials: int = 10
    deterministic_objective: bool = False


class GPStrategy(OptunaStrategy):
    """Gaussian-process Bayesian optimisation (Optuna's GPSampler; needs PyTorch)."""

    name = "optuna-gp"
    Options = GPOptions
    capabilities = Capabilities(
        pruning=True,
        multi_objective=False,
        notes="conditional parameters outside the GP's joint model are sampled at random",
    )

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        opts = self.options
        assert isinstance(opts, GPOptions)
        return optuna.samplers.GPSampler(
            seed=seed,
            n_startup_trials=opts.n_startup_trials,
            deterministic_objective=opts.deterministic_objective,
            constraints_func=self.constraints_func(),
        )


class CmaEsOptions(StrategyOptions):
    n_startup_trials: int = 1
    restart_strategy: Literal["ipop", "bipop"] | None = None
    with_margin: bool = False


class CmaEsStrategy(OptunaStrategy):
    """CMA-ES (Optuna's CmaEsSampler): continuous and integer parameters."""

    name = "optuna-cmaes"
    Options = CmaEsOptions
    capabilities = Capabilities(
        pruning=True,
        multi_objective=False,
        notes="categorical and conditional parameters are sampled at random",
    )

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        opts = self.options
        assert isinstance(opts, CmaEsOptions)
        return optuna.samplers.CmaEsSampler(
            seed=seed,
            n_startup_trials=opts.n_startup_trials,
            restart_strategy=opts.restart_strategy,
            with_margin=opts.with_margin,
            independent_sampler=optuna.samplers.RandomSampler(seed=seed),
            warn_independent_sampling=False,
        )


class QMCOptions(StrategyOptions):
    qmc_type: Literal["sobol", "halton"] = "sobol"
    scramble: bool = True


class QMCStrategy(OptunaStrategy):
    """Quasi-Monte-Carlo (Sobol / Halton): space-filling, ignores results."""

    name = "optuna-qmc"
    Options = QMCOptions
    capabilities = Capabilities(
        pruning=True,
        multi_objective=True,
        notes="categorical and conditional parameters are sampled at random",
    )

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        opts = self.options
        assert isinstance(opts, QMCOptions)
        return optuna.samplers.QMCSampler(
            qmc_type=opts.qmc_type,
            scramble=opts.scramble,
            seed=seed,
            independent_sampler=optuna.samplers.RandomSampler(seed=seed),
            warn_independent_sampling=False,
        )


class NSGA2Options(StrategyOptions):
    population_size: int = 20


class NSGA2Strategy(OptunaStrategy):
    """NSGA-II: the evolutionary multi-objective sampler (works single-objective too)."""

    name = "optuna-nsga2"
    Options = NSGA2Options

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        opts = self.options
        assert isinstance(opts, NSGA2Options)
        return optuna.samplers.NSGAIISampler(
            population_size=opts.population_size,
            seed=seed,
            constraints_func=self.constraints_func(),
        )
