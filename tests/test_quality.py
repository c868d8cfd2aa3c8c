"""The code stays lint-clean, formatted and type-checked, and the CLI starts light."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import ROOT, modules_loaded_by


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(ROOT / ".venv" / "bin")) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: install the dev extra (pip install -e '.[dev]')")
    return found


def test_ruff_lint_and_format() -> None:
    lint = subprocess.run(
        [_tool("ruff"), "check", "hpo", "tests", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout
    fmt = subprocess.run(
        [_tool("ruff"), "format", "--check", "hpo", "tests", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert fmt.returncode == 0, fmt.stdout


def test_mypy() -> None:
    done = subprocess.run([_tool("mypy"), "hpo"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_cli_start_up_imports_no_heavy_library() -> None:
    heavy = ("tensorflow", "keras", "mlflow", "optuna", "sklearn", "pandas")
    assert modules_loaded_by("import hpo.cli", heavy) == []


def test_the_executable_freezes_what_the_command_left_before_it_exits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`hpo` (hpo.cli.main.run) spares the exit the collector's last walk over every object
    the command left (1.2-1.8 s after a 10,000-trial report): they are frozen first."""
    import gc
    import sys
    from importlib.metadata import entry_points

    from hpo.cli.main import run

    assert [e.value for e in entry_points(group="console_scripts", name="hpo")] == [
        "hpo.cli.main:run"
    ]
    monkeypatch.setattr(sys, "argv", ["hpo", "--version"])
    before = gc.get_freeze_count()
    try:
        with pytest.raises(SystemExit) as exited:
            run()
        assert exited.value.code == 0
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()
