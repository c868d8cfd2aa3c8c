"""Reading finished sweeps back from MLflow for `hpo trials` and `hpo best`."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from hpo.config import selection
from hpo.config.experiment import Constraint, Objective
from hpo.config.selection import value_of
from hpo.config.space import Param
from hpo.errors import UserInputError
from hpo.tracking import schema
from hpo.tracking.reads import SweepInfo, TrialRecord
from hpo.tracking.runs import Tracker
from hpo.tracking.store import existing_tracking_uri
from hpo.urls import mask_url


@dataclass
class SweepView:
    info: SweepInfo
    records: list[TrialRecord]
    # the sweep's search space (from its config.yaml): MLflow keeps params as text, JSON
    # output gives them back as the numbers and choices they were
    space: dict[str, Param] = field(default_factory=dict)

    def record_json(self, record: TrialRecord) -> dict[str, Any]:
        """A trial as JSON, parameters with their types."""
        params: dict[str, Any] = dict(record.params)
        for name, raw in record.params.items():
            if name in self.space:
                with suppress(ValueError):  # not what the space says: keep MLflow's text
                    params[name] = self.space[name].from_text(raw)
        return {**record.to_json(), "params": params}

    @property
    def objectives(self) -> list[Objective]:
        pairs = [p.split(":") for p in self.info.objectives.split(",") if ":" in p]
        if not pairs:
            pairs = [[self.info.objective, self.info.direction]]
        return [Objective(metric=m, direction=d) for m, d in pairs]  # type: ignore[arg-type]

    @property
    def constraints(self) -> list[Constraint]:
        return [Constraint.model_validate(c) for c in self.info.constraints.split(",") if c.strip()]

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    def sorted_trials(self) -> list[TrialRecord]:
        """Best first by the sweep's (first) objective; failed and pruned trials after."""
        primary = self.objectives[0]
        sign = -1.0 if primary.direction == "maximize" else 1.0

        def key(r: TrialRecord) -> tuple[int, float, int]:
            value = value_of(r.metrics, primary.metric)
            scored = r.state == "COMPLETE" and value is not None
            return (0 if scored else 1, sign * value if value is not None else 0.0, r.trial)

        return sorted(self.records, key=key)

    def best(self) -> TrialRecord:
        record = selection.best(self.records_complete(), self.objectives[0], self.constraints)
        if record is None:
            raise UserInputError(self._why_none(), field=f"study {self.info.study!r}")
        return record

    def pareto(self) -> list[TrialRecord]:
        front = selection.pareto_front(self.records_complete(), self.objectives, self.constraints)
        if not front:
            raise UserInputError(self._why_none(), field=f"study {self.info.study!r}")
        return front

    def records_complete(self) -> list[TrialRecord]:
        return [r for r in self.records if r.state == "COMPLETE"]

    def _why_none(self) -> str:
        if not self.records_complete():
            return "no completed trial yet"
        return f"no completed trial meets the constraints ({self.info.constraints})"


def open_sweep(experiment: str, study: str | None, tracking_uri: str | None) -> SweepView:
    uri = existing_tracking_uri(tracking_uri)
    tracker = Tracker(uri)
    experiment_id = tracker.experiment_id(experiment, create=False)
    if experiment_id is None:
        raise UserInputError(f"no experiment named {experiment!r} at {mask_url(tracker.uri)}")
    info = (
        tracker.find_sweep(experiment_id, study) if study else tracker.latest_sweep(experiment_id)
    )
    if info is None:
        what = f"no study {study!r}" if study else "no sweep"
        raise UserInputError(f"{what} in experiment {experiment!r}")
    return SweepView(info, tracker.trials(experiment_id, info.run_id), _space(uri, info.run_id))


def _space(tracking_uri: str, sweep_run_id: str) -> dict[str, Param]:
    """The sweep's search space from its `config.yaml` artifact (empty if unreadable)."""
    from hpo.config.experiment import Experiment
    from hpo.config.yaml_load import safe_load
    from hpo.tracking.registry import Registry

    try:
        text = Registry(tracking_uri).read_text(sweep_run_id, schema.CONFIG_ARTIFACT)
        experiment = Experiment.model_validate(safe_load(text))
    except Exception:  # an old or foreign sweep: parameters stay text
        return {}
    return {p.name: p for p in experiment.space.params}
