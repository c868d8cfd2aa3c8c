"""Reading finished sweeps back from MLflow for `hpo trials` and `hpo best`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hpo.errors import UserInputError
from hpo.tracking import SweepInfo, Tracker, TrialRecord, best_of, resolve_tracking_uri


@dataclass
class SweepView:
    info: SweepInfo
    records: list[TrialRecord]

    def sorted_trials(self) -> list[TrialRecord]:
        """Best first by the sweep's objective; failed and pruned trials after, by number."""
        metric, sign = self.info.objective, (-1.0 if self.info.direction == "maximize" else 1.0)

        def key(r: TrialRecord) -> tuple[int, float, int]:
            scored = r.state == "COMPLETE" and metric in r.metrics
            return (0 if scored else 1, sign * r.metrics[metric] if scored else 0.0, r.trial)

        return sorted(self.records, key=key)

    def best(self) -> TrialRecord:
        record = best_of(self.records, self.info.objective, self.info.direction)
        if record is None:
            raise UserInputError("no completed trial yet", field=f"study {self.info.study!r}")
        return record


def open_sweep(experiment: str, study: str | None, tracking_uri: str | None) -> SweepView:
    uri = resolve_tracking_uri(tracking_uri, None)
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        if not db.exists():  # do not create an empty database just to report it is empty
            raise UserInputError(
                f"no MLflow database at {db} (run `hpo run` first, or pass --tracking-uri)"
            )
    tracker = Tracker(uri)
    experiment_id = tracker.experiment_id(experiment, create=False)
    if experiment_id is None:
        raise UserInputError(f"no experiment named {experiment!r} at {tracker.uri}")
    info = (
        tracker.find_sweep(experiment_id, study) if study else tracker.latest_sweep(experiment_id)
    )
    if info is None:
        what = f"no study {study!r}" if study else "no sweep"
        raise UserInputError(f"{what} in experiment {experiment!r}")
    return SweepView(info, tracker.trials(experiment_id, info.run_id))
