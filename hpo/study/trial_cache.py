"""Ledger trials converted once, and read as changes: the ledger's cost per read stays flat.

A finished trial never changes (hpo writes its attrs before it is told; Optuna records a
stale trial's retry on the NEW trial), so it is converted to a `LedgerTrial` the first time
it is seen finished and reused after. Only trials past the last one known finished are
looked at again: those that train now and the few that finished after them. The sweep loop
reads through a `LedgerCursor`: what finished since its last read, what is unfinished now,
and which trials were retried since. Optuna's own read (`Study.get_trials(deepcopy=False)`:
new journal records or, on PostgreSQL, its `_CachedStorage` query of unfinished trials) is
the only part that walks the whole list, a loop of attribute reads (~1 ms at 10,000 trials).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from hpo.study import _optuna_private as private

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from hpo.study.ledger import LedgerTrial


@dataclass(frozen=True)
class LedgerChanges:
    """What one read through a cursor found."""

    finished: list[LedgerTrial]  # finished since the cursor's last read (each once)
    unfinished: list[LedgerTrial]  # RUNNING and WAITING now
    retried: list[int]  # trials failed as stale and re-queued since the last read


class LedgerCursor:
    """A reader's place in a ledger's finished trials (the loop has one per sweep)."""

    def __init__(self) -> None:
        self.finished_read = 0
        self.retried_read = 0


class TrialCache:
    """Every finished trial converted once; unfinished ones converted on each read."""

    def __init__(self) -> None:
        self.finished: dict[int, LedgerTrial] = {}
        self.retried: set[int] = set()
        self.conversions = 0  # LedgerTrial.of calls so far (tests count them per trial)
        self._order: list[int] = []  # finished trial numbers, in the order first seen
        self._retried_order: list[int] = []
        self._settled = 0  # every trial below this position is finished and converted
        self._unfinished: list[LedgerTrial] = []

    def update(self, frozen: Sequence[FrozenTrial]) -> None:
        """Take in a fresh `get_trials(deepcopy=False)` list (sorted by number)."""
        from hpo.study.ledger import LedgerTrial

        if self._settled > len(frozen) or (
            self._settled and frozen[self._settled - 1].number != self._settled - 1
        ):
            self._settled = 0  # not the numbering we rely on: look at everything again
        unfinished: list[LedgerTrial] = []
        for trial in frozen[self._settled :]:
            if trial.number in self.finished:
                continue
            for number in private.retry_history(trial):
                self._mark_retried(number)
            self.conversions += 1
            converted = LedgerTrial.of(trial, frozenset(self.retried))
            if trial.state.is_finished():
                self.finished[trial.number] = converted
                self._order.append(trial.number)
            else:
                unfinished.append(converted)
        while self._settled < len(frozen) and frozen[self._settled].number in self.finished:
            self._settled += 1
        self._unfinished = unfinished

    def all(self, frozen: Sequence[FrozenTrial]) -> list[LedgerTrial]:
        """Every trial in number order (what `Ledger.trials()` returns)."""
        waiting = {t.number: t for t in self._unfinished}
        return [self.finished.get(t.number) or waiting[t.number] for t in frozen]

    def changes(self, cursor: LedgerCursor) -> LedgerChanges:
        finished = [self.finished[n] for n in self._order[cursor.finished_read :]]
        retried = self._retried_order[cursor.retried_read :]
        cursor.finished_read, cursor.retried_read = len(self._order), len(self._retried_order)
        return LedgerChanges(finished, list(self._unfinished), retried)

    def _mark_retried(self, number: int) -> None:
        if number in self.retried:
            return
        self.retried.add(number)
        self._retried_order.append(number)
        if number in self.finished:
            self.finished[number] = replace(self.finished[number], retried=True)
