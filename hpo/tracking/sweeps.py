"""Reading finished sweeps back from MLflow for `hpo trials`, `hpo best` and `hpo promote`.

A big sweep is read in pages, best first (MLflow sorts: `search_runs` with `order_by` and
`max_results`), so `hpo trials` (its first `--limit`), `hpo best` (single objective) and
`hpo promote` (trials with a logged model) read what they show, not every trial run; the
whole list is read only when asked for (`--limit 0`, a Pareto set, the report).
MLflow, not the ledger: it is what every reader can reach (a remote `mlflow server`), and
what `hpo trials` shows is what MLflow holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from hpo.config import selection
from hpo.config.experiment import Constraint, Objective
from hpo.config.selection import value_of
from hpo.config.space import Param
from hpo.errors import UserInputError
from hpo.tracking import schema
from hpo.tracking.reads import RunReads, SweepInfo, TrialRecord
from hpo.tracking.runs import Tracker
from hpo.tracking.store import existing_tracking_uri, refresh_query_statistics
from hpo.urls import mask_url


@dataclass
class SweepView:
    info: SweepInfo
    loaded: list[TrialRecord] | None = None  # every trial run, once read (see `records`)
    # the sweep's search space (from its config.yaml): MLflow keeps params as text, JSON
    # output gives them back as the numbers and choices they were
    space: dict[str, Param] = field(default_factory=dict)
    reads: RunReads | None = None  # where pages come from (None: `loaded` is everything)

    @property
    def records(self) -> list[TrialRecord]:
        """Every trial run of the sweep (read on first use: 10,000 runs take seconds)."""
        if self.loaded is None:
            assert self.reads is not None
            self.loaded = self.reads.trials(self.info.experiment_id, self.info.run_id)
        return self.loaded

    def top(self, limit: int) -> list[TrialRecord]:
        """The first `limit` of `sorted_trials()` (0: all), read as one page."""
        if limit <= 0 or self.reads is None or self.loaded is not None:
            return self.sorted_trials()[: limit or None]
        primary = self.objectives[0]
        page = self.reads.top_trials(
            self.info.experiment_id, self.info.run_id, primary.metric, primary.direction, limit
        )
        return SweepView(self.info, page).sorted_trials()

    def ranked(
        self, metric: str, direction: str, *, with_model: bool = False
    ) -> Iterator[TrialRecord]:
        """COMPLETE trials best first on `metric`, page by page."""
        if self.reads is None or self.loaded is not None:
            sign = -1.0 if direction == "maximize" else 1.0
            scored = [r for r in self.records_complete() if value_of(r.metrics, metric) is not None]
            scored.sort(key=lambda r: (sign * (value_of(r.metrics, metric) or 0.0), r.trial))
            yield from (r for r in scored if r.has_model or not with_model)
            return
        more = f" and tags.`{schema.MODEL}` = '{schema.MODEL_LOGGED}'" if with_model else ""
        yield from self.reads.ranked_trials(
            self.info.experiment_id, self.info.run_id, metric, direction, more=more
        )

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
        """Best first by the sweep's (first) objective; the others after (those with a value
        of it, e.g. pruned, by that value; then in trial order): `top` reads it in pages."""
        primary = self.objectives[0]
        sign = -1.0 if primary.direction == "maximize" else 1.0

        def key(r: TrialRecord) -> tuple[int, int, float, int]:
            value = value_of(r.metrics, primary.metric)
            scored = r.state == "COMPLETE" and value is not None
            unvalued = 1 if value is None else 0  # the store sorts runs without it last
            return (
                0 if scored else 1,
                unvalued,
                sign * value if value is not None else 0.0,
                r.trial,
            )

        return sorted(self.records, key=key)

    def best(self) -> TrialRecord:
        """The best feasible trial: the first of the ranked pages that meets the sweep's
        constraints (usually on the first page); every trial is read only to say why none is."""
        primary = self.objectives[0]
        for record in self.ranked(primary.metric, primary.direction):
            if selection.best([record], primary, self.constraints) is not None:
                return record
        raise UserInputError(self._why_none(), field=f"study {self.info.study!r}")

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
    refresh_query_statistics(uri)  # a sweep killed before its end left none (~10 ms)
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
    return SweepView(info, None, _space(uri, info.run_id), reads=tracker)


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
