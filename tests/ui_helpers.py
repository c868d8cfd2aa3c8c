"""Shared by test_ui_process_tree and test_secrets: `hpo ui` as a user starts it, and the
processes it leaves (read from /proc: what `ps` shows every user of the machine)."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

LINK = re.compile(r"hpo: newest sweep '([^']*)': (\S+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_free(port: int) -> bool:
    """Could a new server listen on it? (SO_REUSEADDR, as servers bind: connections of the
    old one lingering in TIME_WAIT do not hold a port, a listener does.)"""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class RunningUi:
    process: subprocess.Popen[str]
    port: int
    stderr_path: Path

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def start_ui(cwd: Path, port: int, env: dict[str, str] | None = None) -> RunningUi:
    """`hpo ui --port PORT` in `cwd`; its stderr goes to a file (a pipe nobody reads could
    fill up and stall the server)."""
    stderr_path = cwd / f"ui-{port}.err"
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    if not env or "MLFLOW_TRACKING_URI" not in env:
        full_env.pop("MLFLOW_TRACKING_URI", None)
    with stderr_path.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "hpo.cli", "ui", "--port", str(port)],
            cwd=cwd,
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
        )
    return RunningUi(process, port, stderr_path)


def wait_for_link(ui: RunningUi, timeout: float = 120) -> tuple[str, str]:
    """(study, URL) from the line `hpo ui` prints once the server answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = LINK.search(ui.stderr)
        if found:
            return found.group(1), found.group(2)
        if ui.process.poll() is not None:
            pytest.fail(f"hpo ui exited with {ui.process.returncode}: {ui.stderr[-2000:]}")
        time.sleep(0.25)
    pytest.fail(f"hpo ui printed no link within {timeout} s: {ui.stderr[-2000:]}")


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name: [state, ppid, pgrp, ...]; None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def descendants(root: int) -> set[int]:
    """`root` and every process below it, now."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                parents[int(entry.name)] = int(stat[1])
    tree = {root}
    grew = True
    while grew:
        below = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= below
        grew = bool(below)
    return tree


def alive(pid: int) -> bool:
    """Running (a zombie is dead: it holds no memory and no port; this machine's init may
    never reap one)."""
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def stop_quietly(ui: RunningUi, known: set[int] | frozenset[int] = frozenset()) -> None:
    """Cleanup after a failed test: what is left of the tree (`known`: pids seen earlier, for
    orphans whose parent already exited), killed; only processes that are ours by name."""
    pids = set(known)
    if ui.process.poll() is None:
        pids |= descendants(ui.process.pid)
    for pid in pids:
        if alive(pid) and any(name in cmdline(pid) for name in ("hpo.cli", "mlflow", "uvicorn")):
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
    with contextlib.suppress(subprocess.TimeoutExpired):
        ui.process.wait(timeout=10)
