"""One retry policy: call again after doubling pauses, until a patience or attempt limit.

Generic (no database knowledge), so the ledger (hpo.study.retry) and any other layer that
talks to a service over the network share the same rule: which errors are worth another
try is the caller's to say.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """How long to keep trying: pauses double from `first_s` up to `max_s`; give up when
    the next pause would pass `patience_s`, or after `attempts` calls when that is set."""

    patience_s: float = 120.0
    first_s: float = 0.5
    max_s: float = 8.0
    attempts: int | None = None


def retry(
    function: Callable[[], T],
    backoff: Backoff,
    *,
    retry_on: Callable[[Exception], bool],
    on_retry: Callable[[Exception], None] | None = None,
    give_up: Callable[[Exception], BaseException] | None = None,
) -> T:
    """`function()`, called again while it raises an error `retry_on` accepts.

    `on_retry` hears each error that will be retried (before the pause); when the patience
    or the attempts run out, `give_up(error)` is raised instead (default: the error itself).
    Errors `retry_on` refuses are raised at once.
    """
    deadline = time.monotonic() + backoff.patience_s
    pause = backoff.first_s
    attempts = backoff.attempts or math.inf
    calls = 0
    while True:
        calls += 1
        try:
            return function()
        except Exception as err:
            if not retry_on(err):
                raise
            if calls >= attempts or time.monotonic() + pause > deadline:
                if give_up is None:
                    raise
                raise give_up(err) from None
            if on_retry is not None:
                on_retry(err)
            time.sleep(pause)
            pause = min(pause * 2, backoff.max_s)
