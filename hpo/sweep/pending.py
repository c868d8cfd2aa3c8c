"""Trials the ledger holds but MLflow does not yet: kept on disk until they are logged.

The ledger records a trial's outcome before MLflow hears of it. When MLflow cannot be
written (its server is down, `mlflow.db` stays locked past the patience), nothing may be
lost and the two stores must not disagree for good, so the trial's record (state, metrics,
epoch history, tags, confusion matrix) and its saved model stay in the study's pending
folder, and the next run of the study logs them (hpo.sweep.mlflow_listener) and removes
them. The training processes save models into the same folder, so a model is on disk, not
in a temporary directory, from the moment it exists until MLflow has it.

Where: `.hpo-pending/<study>/` beside the ledger's journal file (the default: the working
directory), or in the working directory for a database ledger. Inside, `trial-<n>/` is a
saved model and `trial-<n>.json` the record of a trial not yet logged.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hpo.study.storage import ledger_file

FOLDER = ".hpo-pending"
_RECORD = re.compile(r"trial-(\d+)\.json")


@dataclass
class PendingTrial:
    """Everything a trial run receives when its trial ends (what `on_trial_end` logs)."""

    trial: int
    state: str  # COMPLETE / PRUNED / FAIL
    run_id: str | None = None  # None: the run was never created
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    error: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    killed: bool = False
    confusion: list[list[int]] | None = None
    model_dir: str | None = None  # a saved model to upload (not part of the record file)


class PendingFolder:
    """One study's pending folder (created on first use)."""

    def __init__(self, root: Path):
        self.root = root

    @classmethod
    def for_study(cls, storage: str | None, study: str) -> PendingFolder:
        # beside a one-machine ledger (journal, SQLite); a shared database's: the working dir
        ledger = ledger_file(storage)
        base = ledger.parent if ledger is not None else Path.cwd()
        slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in study).strip(".")
        return cls(base.resolve() / FOLDER / (slug or "study"))

    @contextmanager
    def models(self) -> Iterator[str]:
        """Where the training processes save models (`trial-<n>/`), for a sweep's length;
        the folder goes when the sweep leaves it empty."""
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            yield str(self.root)
        finally:
            self.tidy(())

    def model_dir(self, trial: int) -> str | None:
        path = self.root / f"trial-{trial}"
        return str(path) if (path / "MLmodel").is_file() else None

    def save(self, record: PendingTrial) -> Path:
        """Keep a record (its model is already in `trial-<n>/`); atomic, so a crash leaves
        the old record or the new one, never half of one."""
        self.root.mkdir(parents=True, exist_ok=True)
        body = asdict(record)
        body.pop("model_dir")
        path = self.root / f"trial-{record.trial}.json"
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps(body, default=str), encoding="utf-8")
        os.replace(partial, path)
        return path

    def records(self) -> list[PendingTrial]:
        """The trials waiting to be logged, by trial number, each with its model if kept."""
        if not self.root.is_dir():
            return []
        found = []
        for path in self.root.iterdir():
            if _RECORD.fullmatch(path.name):
                record = PendingTrial(**json.loads(path.read_text(encoding="utf-8")))
                record.model_dir = self.model_dir(record.trial)
                found.append(record)
        return sorted(found, key=lambda r: r.trial)

    def done(self, trial: int) -> None:
        """Trial `trial` is in MLflow: forget its record and model."""
        shutil.rmtree(self.root / f"trial-{trial}", ignore_errors=True)
        (self.root / f"trial-{trial}.json").unlink(missing_ok=True)

    def tidy(self, trials: Iterable[int] | None = None) -> None:
        """Remove the models of `trials` (every trial with None) that have no record (an
        upload that never started: the trial was killed, or failed), then the folder and
        `.hpo-pending` themselves once empty."""
        if not self.root.is_dir():
            return
        keep = {r.trial for r in self.records()}
        wanted = None if trials is None else set(trials)
        for path in self.root.glob("trial-*"):
            number = path.name.removeprefix("trial-")
            if not (path.is_dir() and number.isdigit()) or int(number) in keep:
                continue
            if wanted is None or int(number) in wanted:
                shutil.rmtree(path, ignore_errors=True)
        for folder in (self.root, self.root.parent):
            try:
                folder.rmdir()  # only when empty
            except OSError:
                return
