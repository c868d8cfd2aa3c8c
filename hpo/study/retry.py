"""Riding out a database restart: retry ledger calls with backoff, then give up clearly.

A PostgreSQL ledger that restarts, or is unreachable for a few seconds, must not end a
sweep of hours. Every Ledger call is one or a few Optuna storage transactions, and each
transaction either committed or did not; the Ledger's calls are written to be safe to
repeat (`finish` checks the trial's state first, reads are reads, the stored outcome is one
final `tell`), so a call that hit a lost connection is simply made again after a pause.
Only connection-level errors are retried; bad data and bugs surface at once. After
`patience_s` the orchestrator gives up with one clear line (`DatabaseUnavailable`). The
pauses themselves are the one policy of `hpo.retry`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from hpo.errors import SweepAborted
from hpo.retry import Backoff, retry
from hpo.urls import mask_secrets

T = TypeVar("T")


class DatabaseUnavailable(SweepAborted):
    """The ledger database stayed unreachable longer than the patience: exit code 1."""


def is_transient(err: BaseException) -> bool:
    """A lost, refused or reset database connection (anywhere in the cause chain)."""
    import sqlalchemy.exc

    seen: BaseException | None = err
    while seen is not None:
        if isinstance(
            seen,
            sqlalchemy.exc.OperationalError
            | sqlalchemy.exc.InterfaceError
            | sqlalchemy.exc.DisconnectionError,
        ):
            return True
        if isinstance(seen, sqlalchemy.exc.DBAPIError) and seen.connection_invalidated:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def reason(err: BaseException) -> str:
    """The first line of the driver's own message (what the user can act on)."""
    cause: BaseException = err
    while cause.__cause__ is not None:
        cause = cause.__cause__
    inner = getattr(cause, "orig", None) or cause
    text = str(inner).strip().splitlines()
    return mask_secrets(text[0] if text else type(inner).__name__)


@dataclass
class Retrying:
    """Calls a function again while the database is unreachable, up to the patience."""

    where: str  # the masked URL, for the give-up message
    backoff: Backoff = field(default_factory=Backoff)
    notify: Callable[[str], None] | None = None
    _warned: bool = False
    # monotonic time the database was last seen failing, or coming back after failing
    last_trouble: float = -math.inf

    def trouble(self) -> None:
        """Note a failed call, or the first good one after failures (heartbeats too)."""
        self.last_trouble = time.monotonic()

    def call(self, what: str, function: Callable[[], T]) -> T:
        failed = False

        def failing(err: Exception) -> None:
            nonlocal failed
            failed = True
            self.trouble()
            if self.notify is not None and not self._warned:
                self.notify(
                    f"the ledger database {self.where} is unreachable ({reason(err)}); "
                    f"retrying for up to {self.backoff.patience_s:.0f} s"
                )
                self._warned = True

        def gone(err: Exception) -> DatabaseUnavailable:
            self.trouble()
            return DatabaseUnavailable(
                f"the ledger database {self.where} is unreachable ({reason(err)}); "
                f"gave up after {self.backoff.patience_s:.0f} s. Finished trials are "
                "kept: start the same command again to resume"
            )

        result = retry(
            function, self.backoff, retry_on=is_transient, on_retry=failing, give_up=gone
        )
        if failed:  # back after failing: fail_stale waits a grace period from now
            self.trouble()
        if self._warned and self.notify is not None:
            self.notify(f"the ledger database {self.where} is back ({what})")
        self._warned = False
        return result
