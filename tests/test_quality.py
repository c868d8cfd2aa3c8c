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
