"""Shared fixtures: a scratch project folder per test and a way to run the real CLI."""

from __future__ import annotations

import importlib
import importlib.util
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent

# The Ctrl-C tests send SIGINT to the commands they start. A suite started as a background
# job of a non-interactive shell (`pytest &`) runs with SIGINT ignored, the commands it
# starts inherit that, and Ctrl-C would never reach them (seen: `hpo trials` waiting for
# ever, `hpo run` finishing with exit 0). Each test process (xdist worker) takes it back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def skip_unless_ci(reason: str) -> NoReturn:
    """Skip a test whose prerequisite is missing, except under CI=true, where it fails: CI runs
    every test, so a missing piece there is a broken CI setup, never a silent skip."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: this test must run)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require_modules(*names: str, install: str) -> None:
    """The modules a test needs are importable, else `skip_unless_ci` (`install` says how)."""
    missing = [name for name in names if importlib.util.find_spec(name) is None]
    if missing:
        skip_unless_ci(f"{', '.join(missing)} not installed: {install}")


def import_or_skip_unless_ci(name: str, install: str) -> ModuleType:
    """`pytest.importorskip` that fails under CI=true (see `skip_unless_ci`)."""
    require_modules(name, install=install)
    return importlib.import_module(name)


def modules_loaded_by(statement: str, modules: tuple[str, ...]) -> list[str]:
    """Which of `modules` a fresh interpreter holds after `statement` (import-cost checks)."""
    code = f"import sys\n{statement}\nprint(','.join(m for m in {modules!r} if m in sys.modules))\n"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return [name for name in done.stdout.strip().split(",") if name]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory: mlflow.db, mlruns/ and the ledger land here."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def tiny_experiment(**changes: Any) -> dict[str, Any]:
    """A config that trains in about a second: 300 digits rows, 1 epoch, 2 params."""
    config: dict[str, Any] = {
        "name": "tiny",
        "seed": 3,
        "data": {"source": "digits", "max_samples": 300},
        "model": {"builder": "mlp"},
        "search_space": {
            "params": {
                "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
                "units": {"type": "int", "low": 8, "high": 32},
                "batch_size": 64,
            }
        },
        "objective": {"metric": "f1", "average": "macro"},
        "strategy": {"name": "random"},
        "budget": {"trials": 2, "epochs": 1},
        # the end-of-run report has its own tests (test_reporting.py); elsewhere it would
        # only add seconds to every run
        "tracking": {"report": False},
    }
    for dotted, value in changes.items():
        node = config
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return config


@pytest.fixture
def write_config(workdir: Path) -> Callable[..., Path]:
    def write(config: dict[str, Any] | None = None, name: str = "exp.yaml", **changes: Any) -> Path:
        path = workdir / name
        path.write_text(
            yaml.safe_dump(config if config is not None else tiny_experiment(**changes))
        )
        return path

    return write


def run_cli(
    *args: str, cwd: Path, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `hpo` exactly as a user does (a fresh process), capturing its output."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    full_env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(
        [sys.executable, "-m", "hpo.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )


@pytest.fixture
def cli(workdir: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    def call(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, cwd=workdir, **kwargs)

    return call


@pytest.fixture(scope="module")
def postgres_exclusive() -> Iterator[None]:
    """One test module at a time uses the PostgreSQL server: its 100 connections are shared
    by every pytest-xdist process, and a scale-out module alone runs several workers, each
    with a connection pool (two such modules side by side ran the server out of clients)."""
    import fcntl
    import tempfile

    with open(Path(tempfile.gettempdir()) / "hpo-tests-postgres.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
