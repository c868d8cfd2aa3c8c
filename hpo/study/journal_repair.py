"""A journal ledger that survives a torn write: its last record cut off, a bad one named.

Optuna's journal is one JSON record per line, appended. A write cut short (a full disk, a
power cut, a process killed mid-write) leaves a last line without its newline. Optuna's
reader skips that line, but the next append lands on the same line and turns it into a bad
record in the middle, and then no study in the file can be read. So the torn tail is cut off
before anything is appended, with the file as it was kept beside it.

A bad record in the middle is not repaired: later records may refer to what it held (a trial
it created). The error names the byte where the readable journal ends instead.

Plain file operations only; the caller holds the journal's write lock.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from hpo.errors import UserInputError

CHUNK = 1 << 16


def torn_tail(path: Path) -> int | None:
    """Where the whole records end when the last line is torn (no newline, or not a record).

    None when the file is empty or ends with a whole record: the common case costs one read
    of the last line.
    """
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return None
        f.seek(size - 1)
        if f.read(1) != b"\n":
            return _after_last_newline(f, size)
        start = _after_last_newline(f, size - 1)
        f.seek(start)
        return None if _is_record(f.read(size - start)) else start


def cut_torn_tail(path: Path) -> Path | None:
    """Cut a torn last line off, keeping the file as it was beside it; return that copy.

    The copy is on disk (fsynced) before the journal is cut, so a crash here loses nothing.
    """
    cut = torn_tail(path)
    if cut is None:
        return None
    backup = _backup_name(path)
    shutil.copyfile(path, backup)
    _fsync(backup)
    with open(path, "r+b") as f:
        f.truncate(cut)
        f.flush()
        os.fsync(f.fileno())
    return backup


def torn_message(path: Path, backup: Path) -> str:
    return (
        f"the ledger {path} ended in a torn record (a write cut short by a crash, a kill or a "
        f"full disk): it was cut off, so the trial it belonged to is re-run or failed; the "
        f"file as it was is kept as {backup}"
    )


class LedgerUnreadable(UserInputError):
    """A journal with a bad record before its end: no study in the file can be read."""


def unreadable(path: Path) -> LedgerUnreadable:
    """The one-line error for a journal Optuna cannot read, naming where and how to recover."""
    bad = first_bad_record(path)
    if bad is None:  # repaired meanwhile (another process cut a torn tail): try again
        return LedgerUnreadable(
            "the ledger could not be read while another process was changing it; run again",
            source=str(path),
        )
    line, offset = bad
    return LedgerUnreadable(
        f"the ledger cannot be read: line {line} (byte offset {offset}) is not a journal "
        f"record, so no study in this file can be opened. Every record before byte {offset} "
        f"is intact: keep a copy of the file, then cut it there (truncate -s {offset} {path}) "
        "and run again (the records after it are lost, their trials re-run), or use a new "
        "--storage file",
        source=str(path),
    )


def first_bad_record(path: Path) -> tuple[int, int] | None:
    """(line number from 1, byte offset) of the first whole line that is not a JSON record."""
    for number, (offset, line) in enumerate(_lines(path), start=1):
        if line.endswith(b"\n") and not _is_record(line):
            return number, offset
    return None


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    offset = 0
    with open(path, "rb") as f:
        for line in f:
            yield offset, line
            offset += len(line)


def _is_record(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return False


def _after_last_newline(f: BinaryIO, end: int) -> int:
    """Offset just after the last newline before `end` (0 when there is none)."""
    while end > 0:
        start = max(0, end - CHUNK)
        f.seek(start)
        found = f.read(end - start).rfind(b"\n")
        if found >= 0:
            return start + found + 1
        end = start
    return 0


def _backup_name(path: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    backup = path.with_name(f"{path.name}.torn-{stamp}")
    n = 1
    while backup.exists():
        n += 1
        backup = path.with_name(f"{path.name}.torn-{stamp}-{n}")
    return backup


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())
