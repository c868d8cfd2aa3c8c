"""`hpo promote --reevaluate K --seeds S`: correct the winner's curse before promoting.

The top K trials (by the metric, constraints and where-clauses holding) are retrained with
the same S fresh seeds each (paired), on the sweep's own split and evaluation; each retrain
is a child run of its trial run. The pick is the best mean, ties to the lower std (sample
std, ddof=1), then to the better original rank: a trial that was one lucky seed loses to a
configuration that is good on every seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hpo.config.selection import Where, value_of
from hpo.errors import UserInputError
from hpo.tracking.reads import TrialRecord

if TYPE_CHECKING:
    from hpo.tracking.lineage import TrainedOn
    from hpo.tracking.sweeps import SweepView

RETRAIN_SEED_BASE = 1_000_000  # far from every sweep seed (seed + trial number)


def retrain_seeds(count: int) -> list[int]:
    """The same fresh seeds for every re-evaluated trial: a paired comparison."""
    return [RETRAIN_SEED_BASE + s for s in range(count)]


@dataclass
class Reevaluated:
    record: TrialRecord
    seeds: list[int]
    values: list[float] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)  # retrain run ids, model logged
    rank: int = 0  # its place in the original ranking (0: the sweep's best)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan

    @property
    def std(self) -> float:
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"trial": self.record.trial, "mean": self.mean, "std": self.std, "seeds": self.seeds}


def top_trials(
    records: Sequence[TrialRecord],
    metric: str,
    direction: str,
    constraints: Sequence[Where],
    k: int,
) -> list[TrialRecord]:
    """The K best COMPLETE trials meeting every constraint (a model need not be logged)."""
    sign = -1.0 if direction == "maximize" else 1.0
    meeting = [
        r
        for r in records
        if r.state == "COMPLETE"
        and value_of(r.metrics, metric) is not None
        and all(c.holds(r) for c in constraints)
    ]
    if not meeting:
        raise UserInputError(f"no completed trial with {metric!r} meets the constraints")
    return sorted(meeting, key=lambda r: (sign * r.metrics[metric], r.trial))[:k]


def pick(results: Sequence[Reevaluated], direction: str) -> Reevaluated:
    """Best mean; ties to the lower std, then to the better original rank."""
    scored = [r for r in results if r.values]
    if not scored:
        raise UserInputError("every re-evaluation training failed", field="--reevaluate")
    sign = -1.0 if direction == "maximize" else 1.0
    return min(scored, key=lambda r: (sign * round(r.mean, 12), round(r.std, 12), r.rank))


def typed_params(sweep: SweepView, record: TrialRecord, trained: TrainedOn) -> dict[str, Any]:
    """The trial's parameters as the builder got them (MLflow keeps text), fixed ones too."""
    params: dict[str, Any] = dict(sweep.record_json(record)["params"])
    for param in trained.experiment.space.params:
        if param.kind == "fixed" and param.name not in params:
            params[param.name] = param.value
    return params


def reevaluate(
    sweep: SweepView,
    candidates: Sequence[TrialRecord],
    trained: TrainedOn,
    seeds: int,
    metric: str,
    tracking_uri: str | None,
) -> list[Reevaluated]:
    """Retrain each candidate with `seeds` fresh seeds in a training process; log each
    retrain as a child run of its trial and the summary on the trial run."""
    from hpo.deploy.retrain import retraining_setup, run_jobs
    from hpo.tracking.reads import mlflow_client
    from hpo.tracking.retrains import log_reevaluation, log_retrain
    from hpo.tracking.store import existing_tracking_uri

    client = mlflow_client(existing_tracking_uri(tracking_uri))
    chosen_seeds = retrain_seeds(seeds)
    results = [Reevaluated(r, chosen_seeds, rank=i) for i, r in enumerate(candidates)]
    jobs = [
        (typed_params(sweep, r.record, trained), seed) for r in results for seed in chosen_seeds
    ]

    def logged(index: int, result: Any) -> None:
        entry = results[index // seeds]
        seed = chosen_seeds[index % seeds]
        value = result.value(metric)
        run_id = log_retrain(
            client,
            entry.record.run_id,
            trial=entry.record.trial,
            seed=seed,
            metrics=result.metrics if result.state == "COMPLETE" else {},
            model_dir=result.model_dir if result.state == "COMPLETE" else None,
        )
        if result.state == "COMPLETE" and value is not None:
            entry.values.append(value)
            entry.runs.append(run_id)

    run_jobs(retraining_setup(trained.experiment), trained.dataset, jobs, logged)
    for entry in results:
        if entry.values:
            log_reevaluation(
                client, entry.record.run_id, metric, entry.mean, entry.std, len(entry.values)
            )
    return results
