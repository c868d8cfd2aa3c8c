"""Starting the real `hpo serve` in a fresh process and waiting until it answers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.conftest import ROOT
from tests.models_helpers import SweepDir


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_serve(folder: SweepDir, uri: str, port: int, *flags: str) -> subprocess.Popen[str]:
    """`hpo serve URI` as a user starts it (same process group as the test: the test does
    not help it stop its children)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "hpo.cli", "serve", uri, "--port", str(port)),
            *(*flags, "--tracking-uri", folder.uri),
        ],
        cwd=folder.path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_serving(server: subprocess.Popen[str], port: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert server.poll() is None, server.stderr.read() if server.stderr else ""
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
            urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as response,
        ):
            if response.status == 200:
                return
        assert time.monotonic() < deadline, "the scoring server did not start"
        time.sleep(0.5)


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def process_tree(pid: int) -> list[tuple[int, float]]:
    """(pid, start time) of every process below `pid`: psutil when installed, else /proc
    (independent of hpo's own child_process.descendants, which it checks)."""
    try:
        import psutil
    except ImportError:
        return _proc_tree(pid)
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [(child.pid, child.create_time()) for child in children]


def _proc_tree(pid: int) -> list[tuple[int, float]]:
    parents = {}
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _proc_stat(int(entry.name))
        if fields:
            parents[int(entry.name)] = (int(fields[1]), float(fields[19]))
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for child, (ppid, started) in parents.items():
            if ppid == parent:
                found.append((child, started))
                frontier.append(child)
    return found


def _proc_stat(pid: int) -> list[str]:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return text[text.rfind(")") + 2 :].split()


def still_running(tree: list[tuple[int, float]]) -> list[int]:
    """The processes of `tree` that still run (the same pid and start; zombies have ended)."""
    try:
        import psutil
    except ImportError:
        return [
            pid
            for pid, started in tree
            if (fields := _proc_stat(pid)) and fields[0] != "Z" and float(fields[19]) == started
        ]
    left = []
    for pid, started in tree:
        try:
            process = psutil.Process(pid)
            if process.create_time() == started and process.status() != psutil.STATUS_ZOMBIE:
                left.append(pid)
        except psutil.NoSuchProcess:
            pass
    return left


def stop_serve(server: subprocess.Popen[str]) -> None:
    """SIGTERM, as a user's Ctrl-C would; SIGKILL if it has not ended within 30 s."""
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
