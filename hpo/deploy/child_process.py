"""Run a server as a child process and never leave any of it behind.

MLflow's servers are trees (the `mlflow` CLI, uvicorn or gunicorn, their workers, job
runners). Killing only the process a user or a service manager knows about can leave the
rest running, holding memory and the port. So the server starts in its own session (its own
process group, out of reach of the terminal's Ctrl-C), hpo waits for it, and on SIGINT,
SIGTERM or SIGHUP, and whenever hpo leaves, stops the whole tree: SIGTERM to the group and
to every descendant (also those that started a session of their own), SIGKILL after a grace
period. On Linux the child also gets SIGTERM if hpo itself is killed with SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACE_SECONDS = 10.0
POLL_SECONDS = 0.2

# (pid, start time): a pid alone may be reused by an unrelated process after a while
Process = tuple[int, str]


def run_child(
    command: Sequence[str], env: Mapping[str, str], *, grace: float = GRACE_SECONDS
) -> int:
    """Run `command` until it exits or hpo is asked to stop; then stop its whole tree.

    Returns the exit code for hpo: the child's own, or 128 + the signal that stopped it.
    """
    received: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        received.append(signum)  # acted on by the loop below, never mid-cleanup

    in_main = threading.current_thread() is threading.main_thread()  # where handlers live
    previous = {sig: signal.signal(sig, note) for sig in STOP_SIGNALS} if in_main else {}
    child: subprocess.Popen[bytes] | None = None
    try:
        child = subprocess.Popen(
            list(command),
            env=dict(env),
            start_new_session=True,
            preexec_fn=_die_with_parent(),  # one prctl call between fork and exec
        )
        while child.poll() is None and not received:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=POLL_SECONDS)
        code = 128 + received[0] if received else child.returncode
    finally:
        if child is not None:
            stop_tree(child, grace)
        for sig, handler in previous.items():
            if handler is not None:
                signal.signal(sig, handler)
    if received:
        name = signal.Signals(received[0]).name
        print(f"hpo: {name}: stopped the server and its processes", file=sys.stderr, flush=True)
    return code


def stop_tree(child: subprocess.Popen[bytes], grace: float = GRACE_SECONDS) -> None:
    """SIGTERM the child's process group and every descendant, SIGKILL what is left after
    `grace` seconds, and reap the child."""
    tree = descendants(child.pid)
    _signal_group(child.pid, signal.SIGTERM)
    _signal_each(tree, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if child.poll() is not None and not _alive(tree) and not _group_alive(child.pid):
            break
        time.sleep(POLL_SECONDS)
    _signal_group(child.pid, signal.SIGKILL)
    _signal_each(_alive(tree), signal.SIGKILL)
    child.wait()


def descendants(pid: int) -> list[Process]:
    """Every process below `pid` (children, grandchildren, …), from /proc; empty where there
    is no /proc (the process group is then all we stop)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        stat = _stat(int(entry.name))
        if stat is not None:
            parents[int(entry.name)] = int(stat[1])
    found: list[Process] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent:
                started = _start_time(child)
                if started is not None:
                    found.append((child, started))
                    frontier.append(child)
    return found


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state, ppid, pgrp, …)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def _start_time(pid: int) -> str | None:
    stat = _stat(pid)
    return stat[19] if stat is not None and len(stat) > 19 else None


def _alive(tree: list[Process]) -> list[Process]:
    """The processes of `tree` still running (a zombie has finished; same pid, same start)."""
    alive = []
    for pid, started in tree:
        stat = _stat(pid)
        if stat is not None and stat[0] != "Z" and _start_time(pid) == started:
            alive.append((pid, started))
    return alive


def _signal_each(tree: list[Process], sig: int) -> None:
    for pid, _ in _alive(tree):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux, a function for the child that asks the kernel for SIGTERM when hpo dies
    (even by SIGKILL, which no handler sees); None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def arm() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM))

    return arm
