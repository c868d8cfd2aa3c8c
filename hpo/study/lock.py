"""Serialising "check the ledger, then ask" across orchestrators sharing PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hpo.study.retry import Retrying, is_transient


@contextmanager
def advisory_lock(engine: Any, name: str, retrying: Retrying | None) -> Iterator[None]:
    """A session-level PostgreSQL advisory lock keyed by `name`, held for the block.

    A dead process's lock is released with its connection; taking the lock rides out a
    database restart like every other ledger call.
    """
    import sqlalchemy

    digest = hashlib.sha256(f"hpo:{name}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)

    def lock() -> Any:
        conn = engine.connect()
        try:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            conn.commit()
        except BaseException:
            conn.close()
            raise
        return conn

    conn = retrying.call("claim", lock) if retrying else lock()
    try:
        yield
    finally:
        try:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
        except Exception as err:  # a lost connection has released its locks already
            if not is_transient(err):
                raise
        finally:
            conn.close()
