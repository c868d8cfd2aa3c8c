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

from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Generic, TypeVar

from hpo.study import _optuna_private as private

if TYPE_CHECKING:
    from _typeshed import DataclassInstance
    from optuna.trial import FrozenTrial

# the converted trial: `LedgerTrial` (hpo/study/ledger.py), a dataclass with `retried`
T = TypeVar("T", bound="DataclassInstance")


@dataclass(frozen=True)
class LedgerChanges(Generic[T]):
    """What one read through a cursor found."""

    finished: list[T]  # finished since the cursor's last read (each once)
    unfinished: list[T]  # RUNNING and WAITING now
    retried: list[int]  # trials failed as stale and re-queued since the last read


class LedgerCursor:
    """A reader's place in a ledger's finished trials (the loop has one per sweep)."""

    def __init__(self) -> None:
        self.finished_read = 0
        self.retried_read = 0


class TrialCache(Generic[T]):
    """Every finished trial converted once; unfinished ones converted on each read.
    `convert(trial, retried numbers)` makes the `LedgerTrial`."""

    def __init__(self, convert: Callable[[FrozenTrial, Set[int]], T]) -> None:
        self.convert = convert
        self.finished: dict[int, T] = {}
        self.retried: set[int] = set()
        self.conversions = 0  # LedgerTrial.of calls so far (tests count them per trial)
        self._order: list[int] = []  # finished trial numbers, in the order first seen
        self._retried_order: list[int] = []
        self._settled = 0  # every trial below this position is finished and converted
        self._unfinished: dict[int, T] = {}  # by number

    def update(self, frozen: Sequence[FrozenTrial]) -> None:
        """Take in a fresh `get_trials(deepcopy=False)` list (sorted by number)."""
        if self._settled > len(frozen) or (
            self._settled and frozen[self._settled - 1].number != self._settled - 1
        ):
            self._settled = 0  # not the numbering we rely on: look at everything again
        unfinished: dict[int, T] = {}
        for trial in frozen[self._settled :]:
            if trial.number in self.finished:
                continue
            for number in private.retry_history(trial):
                self._mark_retried(number)
            self.conversions += 1
            converted = self.convert(trial, self.retried)
            if trial.state.is_finished():
                self.finished[trial.number] = converted
                self._order.append(trial.number)
            else:
                unfinished[trial.number] = converted
        while self._settled < len(frozen) and frozen[self._settled].number in self.finished:
            self._settled += 1
        self._unfinished = unfinished

    def all(self, frozen: Sequence[FrozenTrial]) -> list[T]:
        """Every trial in number order (what `Ledger.trials()` returns)."""
        return [self.finished.get(t.number) or self._unfinished[t.number] for t in frozen]

    def changes(self, cursor: LedgerCursor) -> LedgerChanges[T]:
        finished = [self.finished[n] for n in self._order[cursor.finished_read :]]
        retried = self._retried_order[cursor.retried_read :]
        cursor.finished_read, cursor.retried_read = len(self._order), len(self._retried_order)
        return LedgerChanges(finished, list(self._unfinished.values()), retried)

    def _mark_retried(self, number: int) -> None:
        if number in self.retried:
            return
        self.retried.add(number)
        self._retried_order.append(number)
        if number in self.finished:
            self.finished[number] = replace(self.finished[number], retried=True)
