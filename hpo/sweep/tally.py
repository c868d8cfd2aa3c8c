"""Running totals over a study's trials, each finished trial added once.

The loop feeds it what one ledger read found changed (hpo/study/trial_cache.py): trials
finished since the last read, the unfinished ones, trials retried since. From those it keeps
the budget count, the state counts, the best trial, the Pareto set and the initial-failures
rule up to date without looking at older trials again, so a `Standing` costs the same at
any study size. "Better" is `hpo.config.selection`'s, asked of the current best (or front)
and the new trial only: the answers are the ones a whole-list pass would give.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from hpo.config import selection
from hpo.sweep.summary import Standing

if TYPE_CHECKING:
    from hpo.config.experiment import Experiment
    from hpo.study.ledger import LedgerTrial
    from hpo.study.trial_cache import LedgerChanges


class Tally:
    def __init__(self, experiment: Experiment):
        self.experiment = experiment
        self.counted = 0
        self.states = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0}
        self.best: LedgerTrial | None = None
        self.front: list[LedgerTrial] = []
        self._unfinished: list[LedgerTrial] = []
        self._counted_fails: set[int] = set()  # a FAIL may be retried later: uncount it
        # the initial-failures rule: counted FAILs numbered below the first counted success
        self._first_success = math.inf
        self._early_fails: list[int] = []
        self._last_error: tuple[int, str | None] = (-1, None)

    def update(self, changes: LedgerChanges[LedgerTrial]) -> Standing:
        self.add(changes.finished)
        for number in changes.retried:
            self._uncount(number)
        self._unfinished = changes.unfinished
        return self.standing()

    def add(self, trials: Iterable[LedgerTrial]) -> None:
        """Finished trials are added to the totals; unfinished ones are kept as the
        current ones (a whole list at once: a `Standing` of every trial)."""
        unfinished = []
        for trial in trials:
            if trial.state in self.states:
                self._add_finished(trial)
            else:
                unfinished.append(trial)
        self._unfinished = unfinished

    def standing(self) -> Standing:
        return Standing(
            self.experiment,
            counted=self.counted,
            running=sum(t.state == "RUNNING" for t in self._unfinished),
            waiting=any(t.state == "WAITING" for t in self._unfinished),
            states=dict(self.states),
            best_trial=self.best,
            front=tuple(self.front),
            failure=self._initial_failure(),
        )

    def _add_finished(self, trial: LedgerTrial) -> None:
        self.states[trial.state] += 1
        if trial.state == "FAIL" and trial.number > self._last_error[0]:
            self._last_error = (trial.number, trial.error)
        if trial.counts_toward_budget:
            self.counted += 1
            if trial.state == "FAIL":
                self._counted_fails.add(trial.number)
                if trial.number < self._first_success:
                    bisect.insort(self._early_fails, trial.number)
            elif trial.number < self._first_success:
                self._first_success = trial.number
                del self._early_fails[bisect.bisect(self._early_fails, trial.number) :]
        if trial.state == "COMPLETE":
            self._add_complete(trial)

    def _add_complete(self, trial: LedgerTrial) -> None:
        exp = self.experiment
        if exp.multi_objective:
            candidates = sorted([*self.front, trial], key=lambda t: t.number)
            self.front = selection.pareto_front(candidates, exp.objectives, exp.constraints)
        candidates = sorted([t for t in (self.best, trial) if t], key=lambda t: t.number)
        self.best = selection.best(candidates, exp.primary, exp.constraints)

    def _uncount(self, number: int) -> None:
        """A FAIL failed as stale and re-queued: its retry counts instead."""
        if number not in self._counted_fails:
            return
        self._counted_fails.discard(number)
        self.counted -= 1
        at = bisect.bisect_left(self._early_fails, number)
        if at < len(self._early_fails) and self._early_fails[at] == number:
            del self._early_fails[at]

    def _initial_failure(self) -> str | None:
        limit = self.experiment.budget.max_initial_failures
        if len(self._early_fails) < limit:
            return None
        last = self._last_error[1] or "unknown"
        return f"the first {limit} trials all failed; last error: {last}"
