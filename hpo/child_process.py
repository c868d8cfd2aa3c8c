"""A child server that never outlives hpo: `hpo ui` (MLflow's UI) and `hpo serve` (its scoring
server).

MLflow's servers are trees (the `mlflow` CLI, uvicorn or gunicorn, their workers, a job
runner with consumers of its own). A signal to the one process a user or a service manager
knows about left the rest running, holding the port and gigabytes of memory. So the child
leads a session of its own (out of reach of the terminal's Ctrl-C), and whenever hpo leaves
(SIGINT, SIGTERM or SIGHUP, raised here as `Stopped`, a KeyboardInterrupt; an error; a normal
return) the whole tree gets SIGTERM, the group and every descendant (also those that started a
session of their own), then SIGKILL for whatever is left after a grace period. If hpo itself
is killed outright (SIGKILL, which no handler sees), Linux sends the child SIGTERM
(`PR_SET_PDEATHSIG`). Standard library only: the bottom layer, for the CLI and deploy alike.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import IO, TextIO

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACE_SECONDS = 10.0
POLL_SECONDS = 0.05

# (pid, start time): a pid alone may be reused by an unrelated process after a while
Process = tuple[int, str]


class Stopped(KeyboardInterrupt):
    """hpo was asked to stop (SIGINT, SIGTERM or SIGHUP); the CLI ends as for Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def child_process(
    command: Sequence[str],
    env: Mapping[str, str],
    *,
    filter_output: Callable[[str], str] | None = None,
    grace_s: float = GRACE_SECONDS,
) -> Iterator[subprocess.Popen[str]]:
    """Start `command` in a session of its own; stop its whole tree on the way out.

    With `filter_output`, every line the child prints passes through it on its way to our
    stdout/stderr (`mask_secrets`: a library error may quote the URL it was given).
    """
    in_main = threading.current_thread() is threading.main_thread()  # where handlers live
    previous = {sig: signal.signal(sig, _raise_stopped) for sig in STOP_SIGNALS} if in_main else {}
    piped = subprocess.PIPE if filter_output is not None else None
    # no signal between the fork and the `try`: a child nobody would stop
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    child: subprocess.Popen[str] | None = None
    pumps: list[threading.Thread] = []
    try:
        child = subprocess.Popen(
            list(command),
            env=dict(env),
            start_new_session=True,
            preexec_fn=_child_setup(),
            stdout=piped,
            stderr=piped,
            text=True,
            errors="replace",
        )
        if filter_output is not None:
            pumps = [
                _pump(source, sink, filter_output)
                for source, sink in ((child.stdout, sys.stdout), (child.stderr, sys.stderr))
                if source is not None
            ]
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # pending ones land here
        yield child
    finally:
        # a second signal must not cut the clean-up short: noted, not raised
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        if child is not None:
            stop_tree(child, grace_s)
        for pump in pumps:  # the child's last lines ("shutting down")
            pump.join(timeout=1)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_child(
    command: Sequence[str], env: Mapping[str, str], *, grace: float = GRACE_SECONDS
) -> int:
    """Run `command` until it exits or hpo is asked to stop, then stop its whole tree.

    Returns the exit code for hpo: the child's own, or 128 + the signal that stopped it.
    """
    try:
        with child_process(command, env, grace_s=grace) as child:
            return child.wait()
    except Stopped as stop:
        name = signal.Signals(stop.signum).name
        print(f"hpo: {name}: stopped the server and its processes", file=sys.stderr, flush=True)
        return 128 + stop.signum


def port_free(host: str, port: int) -> bool:
    """Can a server bind `host:port` now? (Checked first, for one clear line instead of the
    server's own traceback.)"""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def stop_tree(child: subprocess.Popen[str], grace_s: float = GRACE_SECONDS) -> None:
    """SIGTERM the child's process group and every descendant, SIGKILL what is left after
    `grace_s` seconds, and reap the child."""
    tree = descendants(child.pid)
    _signal_group(child.pid, signal.SIGTERM)  # a session leader's pid is its group id
    _signal_each(tree, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
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
            started = _start_time(child) if its_parent == parent else None
            if started is not None:
                found.append((child, started))
                frontier.append(child)
    return found


def _raise_stopped(signum: int, _frame: FrameType | None) -> None:
    raise Stopped(signum)


def _pump(source: IO[str], sink: TextIO, filter_output: Callable[[str], str]) -> threading.Thread:
    def copy() -> None:
        with contextlib.suppress(OSError, ValueError):  # either end closed: nothing to copy
            for line in source:
                sink.write(filter_output(line))
                sink.flush()

    thread = threading.Thread(target=copy, name="child-output", daemon=True)
    thread.start()
    return thread


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
    return [
        (pid, started)
        for pid, started in tree
        if (stat := _stat(pid)) is not None and stat[0] != "Z" and _start_time(pid) == started
    ]


def _signal_each(tree: list[Process], sig: int) -> None:
    for pid, _ in _alive(tree):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """Does any process of the group still run? Zombies do not count: they hold nothing, and
    an init that does not reap orphans would keep them for ever."""
    if not Path("/proc").is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        stat = _stat(int(stat_file.parent.name))
        if stat is not None and int(stat[2]) == pgid and stat[0] != "Z":
            return True
    return False


def _child_setup() -> Callable[[], None]:
    """What the child runs between fork and exec: take signals again, and die with us."""
    prctl = None
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1

    def setup() -> None:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        if prctl is not None:
            prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)

    return setup
