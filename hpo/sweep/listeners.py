"""What happens around the loop (MLflow runs, the progress bar) hooks in as listeners.

As KerasTuner's `on_trial_begin/end` and Optuna's callbacks: the loop calls every listener,
in the order given, in the orchestrating process, and knows nothing of what they do. A
listener's error stops the sweep like any other: a lost tracking server is not ignored.
Implementations: hpo.sweep.mlflow_listener (the sweep in MLflow), hpo.sweep.progress (the bar).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hpo.search.base import TrialRequest
    from hpo.sweep.summary import Standing, SweepSummary
    from hpo.trial.task import TrialResult


@dataclass(frozen=True)
class SweepEnd:
    """How a sweep (or this worker's part of it) ended."""

    status: str  # FINISHED, KILLED (Ctrl-C / SIGTERM) or FAILED
    summary: SweepSummary | None  # None: the ledger database was lost, nothing could be read
    # other workers still train trials of this study: the last one to stop ends the sweep
    others_running: bool = False
    lost: tuple[int, ...] = ()  # trials in flight when the ledger database was lost
    error: str | None = None  # why it was lost


class SweepListener:
    """Hooks of the sweep loop; each does nothing unless a subclass says otherwise."""

    def on_sweep_start(self, standing: Standing) -> None:
        """The loop starts; `standing` is the study as found (on resume: not empty)."""

    def on_trial_start(self, trial: TrialRequest) -> None:
        """A trial was submitted (it may be training already). Always before its end."""

    def on_trial_end(
        self, trial: TrialRequest, result: TrialResult, standing: Standing, *, killed: bool
    ) -> None:
        """A trial is in the ledger (COMPLETE, PRUNED or FAIL) and the strategy was told.

        `standing` includes it; `killed`: the sweep stopped and killed it while it trained."""

    def on_trials_stale(self, numbers: Sequence[int], reason: str) -> None:
        """Trials whose process died (found at start, or a dead worker's) were failed."""

    def on_sweep_end(self, end: SweepEnd) -> None:
        """The loop stopped; no trial of this orchestrator is in flight any more."""


class ListenerList(SweepListener):
    """Every listener hears every hook, in the order given (as Keras's CallbackList)."""

    def __init__(self, listeners: Sequence[SweepListener] = ()):
        self.listeners = list(listeners)

    def on_sweep_start(self, standing: Standing) -> None:
        for listener in self.listeners:
            listener.on_sweep_start(standing)

    def on_trial_start(self, trial: TrialRequest) -> None:
        for listener in self.listeners:
            listener.on_trial_start(trial)

    def on_trial_end(
        self, trial: TrialRequest, result: TrialResult, standing: Standing, *, killed: bool
    ) -> None:
        for listener in self.listeners:
            listener.on_trial_end(trial, result, standing, killed=killed)

    def on_trials_stale(self, numbers: Sequence[int], reason: str) -> None:
        for listener in self.listeners:
            listener.on_trials_stale(numbers, reason)

    def on_sweep_end(self, end: SweepEnd) -> None:
        for listener in self.listeners:
            listener.on_sweep_end(end)
