"""The package keeps the shape docs/ARCHITECTURE.md draws: layers, no cycles, small modules.

The layer table lives once, in pyproject.toml's `[tool.importlinter]` contracts; these tests run
import-linter on the real tree and prove the contract has teeth by adding an upward import to a
copy of the tree.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 200


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("lint-imports", path=str(ROOT / ".venv" / "bin")) or shutil.which(
        "lint-imports"
    )
    if tool is None:
        pytest.fail(
            "lint-imports is not installed: install the dev extra (pip install -e '.[dev]')"
        )
    return subprocess.run(
        [tool, "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(cwd)},
    )


def test_layers_hold_and_no_package_has_an_import_cycle() -> None:
    done = _lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "statement", "broken"),
    [
        (
            "config/space.py",
            "import hpo.sweep.loop",
            "hpo.config is not allowed to import hpo.sweep",
        ),
        ("study/ledger.py", "import hpo.tracking.runs", "hpo.study is not allowed to import"),
        ("sweep/loop.py", "import mlflow", "only hpo.tracking imports mlflow BROKEN"),
        ("reporting/build.py", "import keras", "import keras or tensorflow BROKEN"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(
    tmp_path: Path, module: str, statement: str, broken: str
) -> None:
    shutil.copytree(ROOT / "hpo", tmp_path / "hpo", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path / "hpo" / module
    # a function-level import counts as much as a module-level one
    path.write_text(path.read_text() + f"\n\ndef _forbidden() -> None:\n    {statement}\n")
    done = _lint_imports(tmp_path)
    assert done.returncode != 0
    assert broken in " ".join(done.stdout.split()), done.stdout


def _python_files() -> list[Path]:
    return sorted(p for p in (ROOT / "hpo").rglob("*.py") if "__pycache__" not in p.parts)


def test_no_module_is_too_long_to_hold_one_job() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in _python_files()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_class_is_too_long_to_hold_one_job() -> None:
    long: dict[str, int] = {}
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_CLASS_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.name}"] = lines
    assert long == {}, f"classes over {MAX_CLASS_LINES} lines: {long}"
