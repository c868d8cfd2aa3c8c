"""Locks beside a file ledger: one writer per study, and one append at a time.

Both are `flock`s on files in `<ledger>.locks/`: the OS releases them when their holder dies
(kill -9, a power cut), so nothing is left to clean up and a resume never waits. A database
ledger several workers share takes neither (Optuna's storage and heartbeats coordinate them).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from hpo.errors import UserInputError

_SAFE = re.compile(r"[A-Za-z0-9._-]{1,100}")


class StudyBusy(UserInputError):
    """Another process is running this study on this ledger (exit 2)."""


def locks_dir(ledger: Path) -> Path:
    return ledger.with_name(ledger.name + ".locks")


def study_lock_path(ledger: Path, study: str) -> Path:
    """`<ledger>.locks/study-<name>.lock` (any study name becomes a safe file name)."""
    name = study if _SAFE.fullmatch(study) else _unsafe_name(study)
    return locks_dir(ledger) / f"study-{name}.lock"


@contextmanager
def hold_study(ledger: Path | None, study: str) -> Iterator[None]:
    """Be the one writer of `study` on a file ledger for the block, or exit 2 at once.

    Two runs of one study would train the same budget twice and record disagreeing
    outcomes in the ledger and MLflow, so the second is refused, naming the first.
    `ledger` is None for a shared database (see `storage.ledger_file`): nothing to hold.
    """
    if ledger is None:
        yield
        return
    path = study_lock_path(ledger, study)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StudyBusy(
                f"study {study!r} is being run by {_holder(path)}; wait for it to end or stop "
                f"it (a resume continues it), or use another --study name (lock: {path})",
                field="--study",
            ) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now().isoformat(timespec="seconds"),
            "study": study,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the flock


@contextmanager
def flocked(path: Path) -> Iterator[None]:
    """An exclusive flock on `path` for the block, waiting for it (appends are short)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _holder(path: Path) -> str:
    """Who holds a study lock, from what it wrote (read again while it is still writing)."""
    for _ in range(20):
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            return f"process {info['pid']} on host {info['host']} (since {info['since']})"
        except (OSError, ValueError, KeyError, TypeError):
            time.sleep(0.05)
    return "another process"


def _unsafe_name(study: str) -> str:
    readable = re.sub(r"[^A-Za-z0-9._-]", "_", study)[:60]
    return f"{readable}-{hashlib.sha256(study.encode()).hexdigest()[:12]}"
