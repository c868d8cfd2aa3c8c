"""The one interface every search strategy implements: ask for parameters, tell a result.

A strategy only ever sees parameters and scores (KerasTuner's Oracle): never a model, never
MLflow. Every trial it asks for is recorded in the ledger, so resume and several workers
work the same for every backend.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from hpo.config.experiment import Constraint
from hpo.config.space import SearchSpace
from hpo.study.ledger import Ledger, State
from hpo.trial.task import KerasFit, TrialRunner

Direction = Literal["maximize", "minimize"]


class UnsupportedFeature(ValueError):
    """The backend cannot express something the experiment asks for."""


class SearchExhausted(Exception):
    """A finite search (one with a `size`) has asked for every candidate it has."""


@dataclass(frozen=True)
class Capabilities:
    """What a backend can express; `hpo strategies` prints this table."""

    int: bool = True
    log: bool = True
    categorical: bool = True
    conditional: bool = True
    multi_objective: bool = False
    pruning: bool = False
    workers: bool = True
    notes: str = ""


class StrategyOptions(BaseModel):
    """Options common to every strategy; subclasses add their own (unknown keys rejected)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


OptionsT = TypeVar("OptionsT", bound=StrategyOptions)


@dataclass(frozen=True)
class TrialRequest:
    number: int
    params: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    state: State
    values: tuple[float, ...] | None = None

    @property
    def usable(self) -> bool:
        """Only finite, completed values may teach a model (bayes_opt breaks on NaN)."""
        return (
            self.state == "COMPLETE"
            and self.values is not None
            and all(math.isfinite(v) for v in self.values)
        )


class Strategy(ABC, Generic[OptionsT]):
    """Ask/tell over a neutral space. Subclasses set `name`, `capabilities`, `Options`
    (and parameterize the class with it, `Strategy[MyOptions]`, to type `self.options`)."""

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    Options: ClassVar[type[StrategyOptions]] = StrategyOptions

    def __init__(
        self,
        space: SearchSpace,
        directions: Sequence[Direction],
        seed: int,
        options: OptionsT,
        *,
        pruner: str = "none",
        constraints: Sequence[Constraint] = (),
    ):
        self.space = space
        self.directions = tuple(directions)
        self.seed = seed
        self.options = options
        self.pruner = pruner
        self.constraints = tuple(constraints)
        self._ledger: Ledger | None = None

    @classmethod
    def check(
        cls, space: SearchSpace, directions: Sequence[Direction], pruner: str = "none"
    ) -> None:
        """Raise UnsupportedFeature for what this backend cannot express."""
        caps = cls.capabilities
        needs = {
            "int": space.uses("int"),
            "log": space.has_log,
            "categorical": space.uses("categorical"),
            "conditional": space.has_conditions,
        }
        for feature, needed in needs.items():
            if needed and not getattr(caps, feature):
                raise UnsupportedFeature(
                    f"strategy {cls.name!r} cannot handle {feature} parameters"
                )
        if len(directions) > 1 and not caps.multi_objective:
            raise UnsupportedFeature(
                f"strategy {cls.name!r} optimises one objective; for several use optuna-nsga2, "
                "optuna-tpe or random"
            )
        if pruner != "none" and not caps.pruning:
            raise UnsupportedFeature(
                f"strategy {cls.name!r} cannot prune trials; use pruner none or an optuna-* "
                "strategy"
            )

    @classmethod
    def size_of(cls, space: SearchSpace, options: OptionsT) -> int | None:
        """How many trials this search can ever ask for (then `ask` raises SearchExhausted),
        or None when it never runs out. A classmethod: `hpo compare` sizes its budget before
        any study exists."""
        return None

    @property
    def size(self) -> int | None:
        return self.size_of(self.space, self.options)

    @classmethod
    def runner_for(cls, options: OptionsT) -> TrialRunner:
        """How a trial of this strategy is trained in the training process (carried by its
        `TrialTask`): the Keras pipeline unless a backend trains another way."""
        return KerasFit()

    def trial_runner(self) -> TrialRunner:
        return self.runner_for(self.options)

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            raise RuntimeError("attach() the strategy to a ledger before asking")
        return self._ledger

    def attach(self, ledger: Ledger) -> None:
        """Bind to the study; backends with their own model replay finished trials here."""
        self._ledger = ledger

    @abstractmethod
    def ask(self) -> TrialRequest:
        """Choose the next parameters and record the trial in the ledger."""

    def tell(self, request: TrialRequest, outcome: Outcome) -> None:
        """Learn from a finished trial. Ledger-backed samplers learn from the ledger itself."""
