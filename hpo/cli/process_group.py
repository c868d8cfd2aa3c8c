"""A child server in a process group of its own, stopped together with all it started.

`mlflow server` starts uvicorn, which may start workers and a job runner with consumers of
its own; a signal to the first process alone leaves the others running, holding the port
and gigabytes of memory. So the child leads a new session, and when the parent stops for
any reason (SIGINT, SIGTERM and SIGHUP are raised here as KeyboardInterrupt, so
`friendly_errors` ends with `hpo: interrupted` and exit 130; an error; a normal return) the
whole group gets SIGTERM, and SIGKILL for whatever is left after a grace period. If the
parent itself is killed outright (SIGKILL), Linux sends the child SIGTERM
(`PR_SET_PDEATHSIG`), which the MLflow server forwards to its uvicorn.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType
from typing import IO, TextIO

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1


@contextmanager
def process_group(
    command: Sequence[str],
    env: Mapping[str, str],
    *,
    filter_output: Callable[[str], str] | None = None,
    grace_s: float = 5.0,
) -> Iterator[subprocess.Popen[str]]:
    """Start `command` as the leader of a new process group; stop the group on the way out.

    With `filter_output`, every line the child prints passes through it on its way to our
    stdout/stderr (`mask_secrets`: a library error may quote the URL it was given).
    """
    previous = {sig: signal.signal(sig, _interrupt) for sig in STOP_SIGNALS}
    piped = subprocess.PIPE if filter_output is not None else None
    # no signal between the fork and the `try`: a child nobody would stop
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
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
        pumps = [
            _pump(source, sink, filter_output)
            for source, sink in ((child.stdout, sys.stdout), (child.stderr, sys.stderr))
            if source is not None and filter_output is not None
        ]
        try:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # pending ones land here
            yield child
        finally:
            stop_group(child, grace_s)
            for pump in pumps:  # the child's last lines ("shutting down")
                pump.join(timeout=1)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _pump(source: IO[str], sink: TextIO, filter_output: Callable[[str], str]) -> threading.Thread:
    def copy() -> None:
        with suppress(OSError, ValueError):  # either end closed: nothing left to copy
            for line in source:
                sink.write(filter_output(line))
                sink.flush()

    thread = threading.Thread(target=copy, name="child-output", daemon=True)
    thread.start()
    return thread


def stop_group(child: subprocess.Popen[str], grace_s: float) -> None:
    """SIGTERM to every process of the child's group, SIGKILL to any left after `grace_s`."""
    group = child.pid  # the leader of a new session: its pid is the group id
    _signal_group(group, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and (child.poll() is None or _group_alive(group)):
        time.sleep(0.05)
    _signal_group(group, signal.SIGKILL)
    child.wait()


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _signal_group(group: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError, PermissionError):  # nobody left
        os.killpg(group, sig)


def _group_alive(group: int) -> bool:
    """Does any process of the group still run? Zombies do not count: they hold nothing, and
    an init that does not reap orphans would keep them for ever."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(group, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[2]) == group and fields[0] != "Z":  # fields: state, ppid, pgrp, ...
            return True
    return False


def _child_setup() -> Callable[[], None]:
    """What the child runs between fork and exec: take signals again, and die with us."""
    libc = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None

    def setup() -> None:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        if libc is not None:
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)

    return setup
