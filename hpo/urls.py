"""Storage and tracking URLs: what kind of store a URL names, and how to show it safely.

The bottom layer, so the ledger (study/), the MLflow side (tracking/) and the CLI share one
definition without importing each other; it imports nothing heavy.
"""

from __future__ import annotations

import importlib.util
import re


def is_database(url: str | None) -> bool:
    """An RDB URL (not the journal file default)."""
    return bool(url) and "://" in str(url) and not str(url).startswith("journal://")


def is_sqlite(url: str | None) -> bool:
    return bool(url) and str(url).lower().startswith("sqlite")


def with_driver(url: str) -> str:
    """`postgresql://` with the driver this project installs (psycopg2-binary).

    SQLAlchemy 2.1 and MLflow 3 read a bare `postgresql://` as psycopg 3; users should not
    have to know that, so the bare form works when only psycopg2 is installed.
    """
    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare) and importlib.util.find_spec("psycopg") is None:
            return "postgresql+psycopg2://" + url[len(bare) :]
    return url


def mask_secrets(text: str) -> str:
    """Mask every password in URLs inside a longer text (config.yaml, error messages)."""
    text = re.sub(r"(?i)([?&](?:password|passwd|pwd)=)[^&\s'\"]*", r"\1***", text)
    return re.sub(r"([a-zA-Z][\w+.-]*://[^:/@\s'\"]+):[^@\s'\"]*@", r"\1:***@", text)


def mask_url(url: str) -> str:
    """Hide passwords in a URL (`postgresql://user:***@host/db`, `?password=***`)."""
    url = re.sub(r"(?i)([?&](?:password|passwd|pwd)=)[^&]*", r"\1***", url)
    if "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    if "@" not in rest:
        return url
    credentials, host = rest.rsplit("@", 1)  # a password may itself contain "@"
    if ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
