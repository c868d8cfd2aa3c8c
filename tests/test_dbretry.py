"""Retry with backoff while the ledger database is unreachable (no database needed here;
tests/test_scaleout.py cuts a real PostgreSQL connection)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import optuna
import pytest
import sqlalchemy.exc

from hpo.retry import Backoff
from hpo.study.retry import DatabaseUnavailable, Retrying, is_transient
from hpo.trial.pruning import EpochReporter


def _lost_connection() -> Exception:
    """What Optuna's RDB storage raises when PostgreSQL is gone: its own error, caused by
    SQLAlchemy's OperationalError."""
    cause = sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))
    try:
        raise optuna.exceptions.StorageInternalError("commit failed") from cause
    except optuna.exceptions.StorageInternalError as err:
        return err


def test_lost_connections_are_transient_and_bugs_are_not() -> None:
    assert is_transient(_lost_connection())
    assert is_transient(sqlalchemy.exc.InterfaceError("x", {}, Exception("closed")))
    assert not is_transient(sqlalchemy.exc.IntegrityError("x", {}, Exception("duplicate")))
    assert not is_transient(ValueError("a bug"))


def test_retries_with_doubling_pauses_until_the_database_is_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pauses: list[float] = []
    monkeypatch.setattr("hpo.retry.time.sleep", pauses.append)  # record, do not wait
    said: list[str] = []
    attempts = iter([True, True, True, True, False])

    def flaky() -> str:
        if next(attempts):
            raise _lost_connection()
        return "rows"

    backoff = Backoff(patience_s=60.0, first_s=0.5, max_s=2.0)
    retrying = Retrying("postgresql://u:***@db/x", backoff, said.append)
    assert retrying.call("reading", flaky) == "rows"
    assert pauses == [0.5, 1.0, 2.0, 2.0]  # doubling, capped
    assert said[0].startswith("the ledger database postgresql://u:***@db/x is unreachable")
    assert "connection refused" in said[0] and "is back" in said[-1]
    assert len(said) == 2  # one warning per outage, not one per attempt
    assert retrying.last_trouble > -float("inf")  # noted, so fail_stale waits a grace period


def test_gives_up_after_the_patience_with_one_clear_line() -> None:
    retrying = Retrying("postgresql://u:***@db/x", Backoff(0.3, first_s=0.05, max_s=0.1))
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as err:
        retrying.call("reading", lambda: (_ for _ in ()).throw(_lost_connection()))
    assert 0.2 <= time.monotonic() - started < 2.0
    message = str(err.value)
    assert "\n" not in message and "gave up after 0 s" in message and "resume" in message
    assert err.value.exit_code == 1


def test_other_errors_are_raised_at_once() -> None:
    calls = []

    def broken() -> None:
        calls.append(1)
        raise KeyError("not a connection problem")

    with pytest.raises(KeyError):
        Retrying("db", Backoff(10.0)).call("reading", broken)
    assert calls == [1]


class _UnreachableTrial:
    def report(self, value: float, step: int) -> None:
        raise _lost_connection()

    def should_prune(self) -> bool:  # pragma: no cover - report fails first
        return True


def test_pruning_skips_an_epoch_while_the_ledger_is_unreachable() -> None:
    reporter = EpochReporter(
        _UnreachableTrial(),  # type: ignore[arg-type]
        lambda model: np.array([0, 1]),
        np.zeros((2, 1)),
        np.array([0, 1]),
        "f1",
        "macro",
    )
    model: Any = None
    assert reporter.after_epoch(0, model) is False  # keeps training, does not crash
    assert reporter.pruned_epoch is None


def test_the_one_policy_can_count_attempts_and_hand_back_its_own_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hpo.retry import retry
    from hpo.study.storage import OPEN_BACKOFF

    pauses: list[float] = []
    monkeypatch.setattr("hpo.retry.time.sleep", pauses.append)
    calls: list[int] = []

    def refused() -> None:
        calls.append(1)
        raise ValueError(f"attempt {len(calls)}")

    with pytest.raises(ValueError, match="attempt 5"):
        retry(refused, OPEN_BACKOFF, retry_on=lambda err: True)
    assert pauses == [0.5, 1.0, 2.0, 4.0]  # the storage factory's five tries


def test_opening_a_database_without_its_driver_is_not_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    from hpo.errors import UserInputError
    from hpo.study.storage import make_storage

    if importlib.util.find_spec("pymysql") is not None:
        pytest.skip("needs a database driver that is not installed")
    pauses: list[float] = []
    monkeypatch.setattr("hpo.retry.time.sleep", pauses.append)
    with pytest.raises(UserInputError) as err:
        make_storage("mysql+pymysql://bob:s3cret@localhost/db")  # pymysql: not installed
    assert "import DB access module" in str(err.value) and "s3cret" not in str(err.value)
    assert pauses == []  # waiting will not install a driver
