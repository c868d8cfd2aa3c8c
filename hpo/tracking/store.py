"""Where MLflow runs live: the tracking URI, and the small helpers every MLflow call shares."""

from __future__ import annotations

import logging
import os
import time
from contextlib import closing
from pathlib import Path
from urllib.parse import quote as url_quote

from hpo.errors import UserInputError

# MLflow and alembic narrate database creation at INFO; users need only warnings
for _name in ("mlflow", "alembic"):
    logging.getLogger(_name).setLevel(logging.WARNING)

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
ARTIFACT_ROOT = "mlruns"


def resolve_tracking_uri(cli: str | None, config: str | None) -> str:
    """CLI flag > config > MLFLOW_TRACKING_URI > the embedded SQLite default."""
    return cli or config or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def existing_tracking_uri(tracking_uri: str | None) -> str:
    """The tracking URI to read from; a SQLite database must already exist.

    Reading never creates an empty database just to report that it is empty.
    """
    uri = resolve_tracking_uri(tracking_uri, None)
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        if not db.exists():
            raise UserInputError(
                f"no MLflow database at {db} (run `hpo run` first, or pass --tracking-uri)"
            )
    return uri


def refresh_query_statistics(uri: str) -> None:
    """Give an embedded SQLite store's query planner its table statistics (`ANALYZE`).

    Without them SQLite joins MLflow's metric ordering (`search_runs(order_by=metrics...)`,
    `hpo best`, `hpo trials`, sorting in the MLflow UI) by scanning every run's metric once
    per run: 7.4 s for one page of a 10,000-trial sweep, 0.15 s with statistics. Sampled
    (`analysis_limit`), the refresh takes ~10 ms at that size, so the end of each sweep and
    each read of one can afford it. A locked or read-only store is left as it is: reads get
    slower, never wrong. PostgreSQL gathers its statistics itself (autovacuum).
    """
    if not uri.startswith("sqlite:///"):
        return
    import sqlite3

    path = uri.removeprefix("sqlite:///").split("?", 1)[0]
    try:
        # mode=rw: never create a database here; a short timeout: never wait on a sweep
        with closing(sqlite3.connect(f"file:{url_quote(path)}?mode=rw", uri=True, timeout=1)) as db:
            db.execute("PRAGMA analysis_limit=400")
            db.execute("ANALYZE")
            db.commit()
    except sqlite3.Error:
        pass


def quote(value: str) -> str:
    """A value inside single quotes of an MLflow search filter."""
    return value.replace("'", "\\'")


def now_ms() -> int:
    """MLflow's timestamps: milliseconds since the epoch."""
    return int(time.time() * 1000)
