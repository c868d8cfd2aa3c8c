"""Where a sweep stands, from one ledger snapshot: budget used, best so far, the Pareto set.

The loop reads the ledger once per iteration and asks every question of that `Standing`
(budget, best so far, the initial-failures rule, progress), so bookkeeping costs the same
at trial 5 and at trial 5 000: one read, not one read per question.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from hpo.config import selection
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
    """One snapshot of the study's trials (every worker's), and what follows from it."""

    trials: Sequence[LedgerTrial]
    experiment: Experiment

    @property
    def budget(self) -> int:
        return self.experiment.budget.trials

    @cached_property
    def counted(self) -> int:
        """Trials that spend the budget (finished, not interrupted, not retried)."""
        return sum(t.counts_toward_budget for t in self.trials)

    @cached_property
    def running(self) -> int:
        """Trials training now, here or in another worker (they hold a place in the budget)."""
        return sum(t.state == "RUNNING" for t in self.trials)

    @cached_property
    def waiting(self) -> bool:
        """Whether a trial is queued: `--enqueue`d, or a dead worker's trial to retry."""
        return any(t.state == "WAITING" for t in self.trials)

    @cached_property
    def states(self) -> dict[str, int]:
        states = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0}
        for trial in self.trials:
            if trial.state in states:
                states[trial.state] += 1
        return states

    @cached_property
    def _complete(self) -> list[LedgerTrial]:
        return [t for t in self.trials if t.state == "COMPLETE"]

    @cached_property
    def best(self) -> Best | None:
        """The best feasible trial on the primary objective (for several objectives: the
        Pareto set's best on the first one)."""
        exp = self.experiment
        top = selection.best(self._complete, exp.primary, exp.constraints)
        return Best.of(top) if top else None

    @property
    def best_value(self) -> float | None:
        """The best trial's primary metric (a new model is saved only if it beats this)."""
        return self.best.metrics.get(self.experiment.primary.metric) if self.best else None

    @cached_property
    def pareto(self) -> list[Best]:
        exp = self.experiment
        front = selection.pareto_front(self._complete, exp.objectives, exp.constraints)
        return [Best.of(t) for t in front]

    def initial_failure(self) -> str | None:
        """Why to stop: when the first `max_initial_failures` counted trials all failed,
        the last error (a broken builder or data fails every trial; better to say so now)."""
        limit = self.experiment.budget.max_initial_failures
        counted = [t for t in self.trials if t.counts_toward_budget]
        first = sorted(counted, key=lambda t: t.number)[:limit]
        if len(first) < limit or any(t.state != "FAIL" for t in first):
            return None
        errors = [t for t in self.trials if t.state == "FAIL"]
        last = (errors[-1].error if errors else None) or "unknown"
        return f"the first {limit} trials all failed; last error: {last}"
