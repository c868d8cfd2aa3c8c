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

from hpo.search.base import Capabilities, OptionsT, Strategy, StrategyOptions, TrialRequest
from hpo.study.ledger import METRICS_ATTR


@contextmanager
def _quiet_experimental() -> Iterator[None]:
    """Optuna marks long-stable options (group, constant_liar) experimental; users need
    not see that warning on every run."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


_AT_RANDOM = "conditional parameters are sampled at random"


class OptunaStrategy(Strategy[OptionsT]):
    """Base for Optuna samplers: `sampler` names the class in `optuna.samplers`, whose
    keyword arguments are the strategy's options (one definition: the Options model) plus
    `sampler_extras`. Pruning happens in the training process through Optuna's pruners on
    the same study."""

    capabilities = Capabilities(pruning=True, multi_objective=True)
    sampler: ClassVar[str]

    def sampler_extras(self, seed: int) -> dict[str, Any]:
        """Keyword arguments beyond the options (constraints, a fallback sampler)."""
        return {}

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        sampler_class = getattr(optuna.samplers, self.sampler)
        sampler: optuna.samplers.BaseSampler = sampler_class(
            seed=seed, **self.options.model_dump(), **self.sampler_extras(seed)
        )
        return sampler

    def with_constraints(self) -> dict[str, Any]:
        return {"constraints_func": self.constraints_func()}

    @staticmethod
    def random_for_the_rest(seed: int) -> dict[str, Any]:
        """What the sampler cannot model is sampled at random, without a warning per trial."""
        return {
            "independent_sampler": optuna.samplers.RandomSampler(seed=seed),
            "warn_independent_sampling": False,
        }

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


class RandomStrategy(OptunaStrategy[RandomOptions]):
    name, Options, sampler = "random", RandomOptions, "RandomSampler"


class TPEOptions(StrategyOptions):
    n_startup_trials: int = 10
    multivariate: bool = True
    constant_liar: bool = True


class TPEStrategy(OptunaStrategy[TPEOptions]):
    name, Options, sampler = "optuna-tpe", TPEOptions, "TPESampler"

    def sampler_extras(self, seed: int) -> dict[str, Any]:
        return {"group": self.options.multivariate, **self.with_constraints()}


class GPOptions(StrategyOptions):
    n_startup_trials: int = 10
    deterministic_objective: bool = False


class GPStrategy(OptunaStrategy[GPOptions]):
    """Gaussian-process Bayesian optimisation (Optuna's GPSampler; needs PyTorch)."""

    name, Options, sampler = "optuna-gp", GPOptions, "GPSampler"
    capabilities = Capabilities(
        pruning=True,
        notes="conditional parameters outside the GP's joint model are sampled at random",
    )

    def sampler_extras(self, seed: int) -> dict[str, Any]:
        return self.with_constraints()


class CmaEsOptions(StrategyOptions):
    n_startup_trials: int = 1
    restart_strategy: Literal["ipop", "bipop"] | None = None
    with_margin: bool = False


class CmaEsStrategy(OptunaStrategy[CmaEsOptions]):
    """CMA-ES (Optuna's CmaEsSampler): continuous and integer parameters."""

    name, Options, sampler = "optuna-cmaes", CmaEsOptions, "CmaEsSampler"
    capabilities = Capabilities(pruning=True, notes=f"categorical and {_AT_RANDOM}")

    def sampler_extras(self, seed: int) -> dict[str, Any]:
        return self.random_for_the_rest(seed)


class QMCOptions(StrategyOptions):
    qmc_type: Literal["sobol", "halton"] = "sobol"
    scramble: bool = True


class QMCStrategy(OptunaStrategy[QMCOptions]):
    """Quasi-Monte-Carlo (Sobol / Halton): space-filling, ignores results."""

    name, Options, sampler = "optuna-qmc", QMCOptions, "QMCSampler"
    capabilities = Capabilities(
        pruning=True, multi_objective=True, notes=f"categorical and {_AT_RANDOM}"
    )

    def sampler_extras(self, seed: int) -> dict[str, Any]:
        return self.random_for_the_rest(seed)


class NSGA2Options(StrategyOptions):
    population_size: int = 20


class NSGA2Strategy(OptunaStrategy[NSGA2Options]):
    """NSGA-II: the evolutionary multi-objective sampler (works single-objective too)."""

    name, Options, sampler = "optuna-nsga2", NSGA2Options, "NSGAIISampler"

    def sampler_extras(self, seed: int) -> dict[str, Any]:
        return self.with_constraints()
