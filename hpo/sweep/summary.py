"""Where a sweep stands, from one ledger snapshot: budget used, best so far, the Pareto set.

The loop reads the ledger once per iteration and asks every question of that `Standing`
(budget, best so far, the initial-failures rule, progress); the read brings only what
changed (hpo/study/trial_cache.py) into running totals (hpo/sweep/tally.py), so
bookkeeping costs the same at trial 5 and at trial 10,000.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from hpo.metrics import METRIC_NAMES

if TYPE_CHECKING:
    from hpo.config.experiment import Experiment
    from hpo.study.ledger import LedgerTrial


@dataclass
class Best:
    trial: int
    run_id: str | None
    params: dict[str, Any]
    metrics: dict[str, float]

    @classmethod
    def of(cls, trial: LedgerTrial) -> Best:
        return cls(trial.number, trial.run_id, trial.params, trial.metrics)

    def to_json(self) -> dict[str, Any]:
        return {
            "trial": self.trial,
            "run_id": self.run_id,
            "params": self.params,
            "metrics": {k: self.metrics.get(k) for k in METRIC_NAMES},
        }


@dataclass
class SweepSummary:
    experiment: str
    study: str
    strategy: str
    states: dict[str, int]
    best: Best | None
    objective: str
    sweep_run_id: str = ""  # the MLflow sweep run (filled in by hpo.sweep.setup)
    pareto: list[Best] | None = None
    wall_seconds: float = 0.0
    new_trials: int = 0  # trials this orchestrator ran (several workers share a study)
    # the budget.stop_when rule that ended the sweep early, and why (None: it ran its course)
    stop_reason: str | None = None
    stop_detail: str | None = None

    @classmethod
    def of(
        cls, final: Standing, study: str, wall_seconds: float, *, new_trials: int
    ) -> SweepSummary:
        """The summary of a sweep whose ledger, read at the end, is `final`."""
        exp = final.experiment
        return cls(
            experiment=exp.experiment_name,
            study=study,
            strategy=exp.strategy.name,
            states=final.states,
            best=final.best,
            pareto=final.pareto if exp.multi_objective else None,
            objective=exp.primary.metric,
            wall_seconds=wall_seconds,
            new_trials=new_trials,
        )

    def to_json(self) -> dict[str, Any]:
        names = ("experiment", "study", "strategy", "sweep_run_id")
        return {
            **{name: getattr(self, name) for name in names},
            "n_trials": sum(self.states.values()),
            "states": self.states,
            "best": self.best.to_json() if self.best else None,
            **({"pareto": [b.to_json() for b in self.pareto]} if self.pareto is not None else {}),
            "stop_reason": self.stop_reason,
        }


@dataclass(frozen=True, eq=False)
class Standing:
    """Where the study (every worker's trials) stands at one ledger read: the loop's only
    source for budget, best so far, Pareto set and the abort rule. Built from running
    totals (hpo/sweep/tally.py), so it costs the same at trial 5 and at trial 10,000."""

    experiment: Experiment
    counted: int = 0  # trials that spend the budget (finished, not interrupted, not retried)
    running: int = 0  # training now, here or in another worker (they hold a budget place)
    waiting: bool = False  # a trial is queued: `--enqueue`d, or a dead worker's to retry
    states: dict[str, int] = field(default_factory=lambda: {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0})
    best_trial: LedgerTrial | None = None  # best feasible on the primary objective
    front: Sequence[LedgerTrial] = ()  # the Pareto set (several objectives)
    failure: str | None = None  # the initial-failures rule's verdict

    @property
    def budget(self) -> int:
        return self.experiment.budget.trials

    @cached_property
    def best(self) -> Best | None:
        """The best feasible trial on the primary objective (for several objectives: the
        Pareto set's best on the first one)."""
        return Best.of(self.best_trial) if self.best_trial else None

    @property
    def best_value(self) -> float | None:
        """The best trial's primary metric (a new model is saved only if it beats this)."""
        return self.best.metrics.get(self.experiment.primary.metric) if self.best else None

    @cached_property
    def pareto(self) -> list[Best]:
        return [Best.of(t) for t in self.front]

    def initial_failure(self) -> str | None:
        """Why to stop: when the first `max_initial_failures` counted trials all failed,
        the last error (a broken builder or data fails every trial; better to say so now)."""
        return self.failure
