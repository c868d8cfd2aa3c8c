"""Ctrl-C and SIGTERM stop a sweep, but only where that is safe.

While the orchestrator waits for training, a signal interrupts at once. During bookkeeping
(ask, tell, the listeners' writes) it is only noted, and honoured right after, so a trial is
never half-recorded (created in MLflow but unknown to the clean-up).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class StopSignals:
    """Installed for the length of the loop (`with StopSignals() as stop:`)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._interruptible = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        self.received = signum
        if self._interruptible:
            raise KeyboardInterrupt(f"signal {signum}")

    def __enter__(self) -> StopSignals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def check(self) -> None:
        """Honour a signal noted during bookkeeping."""
        if self.received is not None:
            raise KeyboardInterrupt(f"signal {self.received}")

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """A stretch (waiting for training) that a signal may cut short at once."""
        self._interruptible = True
        try:
            self.check()
            yield
        finally:
            self._interruptible = False


@contextmanager
def signals_ignored() -> Iterator[None]:
    """A second Ctrl-C must not interrupt the clean-up of the first."""
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    old_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
