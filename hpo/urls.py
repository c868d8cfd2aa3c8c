"""Storage and tracking URLs: what kind of store a URL names, and how to show it safely.

The bottom layer, so the ledger (study/), the MLflow side (tracking/) and the CLI share one
definition without importing each other; it imports nothing heavy.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import traceback
from typing import Any


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


# `scheme://user:` then the password, up to the LAST `@` that is followed by a host and
# the end of the host (a port, a path, a query, a quote, a blank or the end): a password may
# hold `@`, quotes and blanks (raw or percent-encoded). Never across a line or into another URL.
_USERINFO = re.compile(
    r"(?P<head>[a-zA-Z][\w+.-]*://[^:/@\s'\"]*):"
    r"(?:(?!://)[^\n])*"
    r"@(?=(?:[\w.%-]+|\[[0-9a-fA-F:.]+\])(?:[:/?#\s'\",;)\]}>]|$))"
)
# `?password=...` in a URL, `password=...` in a libpq DSN ("host=h password=x dbname=d")
_KEY = r"(?i)(?P<key>(?<![\w-])(?:ssl)?(?:password|passwd|pwd)=)"
_KEYWORD_IN_TEXT = re.compile(_KEY + r"(?:'[^']*'|\"[^\"]*\"|[^&\s]*)")
_KEYWORD_IN_URL = re.compile(_KEY + r"[^&]*")  # a whole URL: the value ends at `&` only


def mask_secrets(text: str) -> str:
    """Mask every password in a text: URLs inside error messages, config.yaml, log lines.

    `postgresql://bob:p@ss "w d@db/x` becomes `postgresql://bob:***@db/x`. Where a text is
    ambiguous, more is masked rather than less: a secret never survives a misreading.
    """
    return _mask(text, _KEYWORD_IN_TEXT)


def mask_url(url: str) -> str:
    """Hide passwords in a URL (`postgresql://user:***@host/db`, `?password=***`)."""
    return _mask(url, _KEYWORD_IN_URL)


def _mask(text: str, keyword: re.Pattern[str]) -> str:
    text = keyword.sub(lambda m: f"{m['key']}***", text)
    return _USERINFO.sub(lambda m: f"{m['head']}:***@", text)


def mask_log_records() -> None:
    """Every log line of this process (MLflow, urllib3, SQLAlchemy, Optuna) with passwords
    masked: libraries quote the URL they failed on, and their handlers print it."""
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "masks_secrets", False):
        return

    def masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            record.msg, record.args = mask_secrets(record.getMessage()), None
            if record.exc_info and record.exc_info[0] is not None:
                lines = traceback.format_exception(*record.exc_info)
                record.exc_text = mask_secrets("".join(lines)).rstrip("\n")
        except Exception:  # a record that cannot be formatted is the logging module's to report
            pass
        return record

    masked_record.masks_secrets = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(masked_record)
