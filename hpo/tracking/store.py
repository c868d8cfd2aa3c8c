"""Where MLflow runs live: the tracking URI, and the small helpers every MLflow call shares."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

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


def quote(value: str) -> str:
    """A value inside single quotes of an MLflow search filter."""
    return value.replace("'", "\\'")


def now_ms() -> int:
    """MLflow's timestamps: milliseconds since the epoch."""
    return int(time.time() * 1000)
