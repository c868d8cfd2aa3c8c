"""A fresh install gets what was tested, and CI never passes by skipping.

pyproject.toml bounds every dependency from above; constraints.txt pins the whole environment
(transitive packages too) inside those ranges; the README's Quickstart and CI install with it;
tests whose prerequisites are missing skip locally but fail under CI=true.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
UPPER = {"<", "<=", "==", "===", "~="}
INSTALL_LINE = re.compile(r"^python3 -m venv \.venv && \.venv/bin/pip install .*$", re.MULTILINE)
# third-party modules hpo imports without declaring them, each with why that is right
OPTIONAL_IMPORTS = {
    "ai_edge_litert": "LiteRT's interpreter when present, else tf.lite (hpo/deploy/export)",
    "pytest": "hpo.testing is the contract suite a user runs under their own pytest",
}


def _declared() -> dict[str, list[Requirement]]:
    """Every requirement of pyproject.toml by group: runtime and each extra."""
    project = PYPROJECT["project"]
    groups = {"runtime": project["dependencies"], **project["optional-dependencies"]}
    return {group: [Requirement(line) for line in lines] for group, lines in groups.items()}


def _pins() -> dict[str, str]:
    """constraints.txt as name -> exact version (every line must be `name==version`)."""
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        req = Requirement(line)
        (spec,) = req.specifier
        assert spec.operator == "==" and "*" not in spec.version, f"not an exact pin: {line}"
        pins[canonicalize_name(req.name)] = spec.version
    return pins


def _resolved(roots: list[Requirement]) -> dict[str, str]:
    """name -> installed version of every distribution `roots` pull in, transitively, in the
    environment running the tests (markers and extras evaluated as pip does)."""
    extras_of: dict[str, set[str]] = {}
    versions: dict[str, str] = {}
    todo = list(roots)
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in extras_of and set(req.extras) <= extras_of[name]:
            continue
        extras_of.setdefault(name, set()).update(req.extras)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            raise AssertionError(f"{req.name} is required but not installed") from None
        versions[name] = dist.version
        for line in dist.requires or []:
            sub = Requirement(line)
            envs = [{"extra": extra} for extra in extras_of[name] | {""}]
            if sub.marker is None or any(sub.marker.evaluate(env) for env in envs):
                todo.append(sub)
    return versions


def test_every_dependency_has_an_upper_bound() -> None:
    unbounded = [
        f"{group}: {req}"
        for group, reqs in _declared().items()
        for req in reqs
        if req.url or not any(spec.operator in UPPER for spec in req.specifier)
    ]
    assert unbounded == [], f"give these an upper bound (README: Development): {unbounded}"


def test_constraints_pin_every_package_the_requirements_resolve_to() -> None:
    roots = [req for reqs in _declared().values() for req in reqs]
    resolved = _resolved(roots)
    assert {"tensorflow", "mlflow", "optuna", "setuptools"} <= resolved.keys()
    unpinned = sorted(name for name in resolved if name not in _pins())
    assert unpinned == [], f"constraints.txt lacks {unpinned}: run `bash .ci/freeze`"


def test_constraints_lie_inside_every_range_of_pyproject() -> None:
    pins = _pins()
    outside = [
        f"{group}: {req} but constraints.txt pins {pins[canonicalize_name(req.name)]}"
        for group, reqs in _declared().items()
        for req in reqs
        if canonicalize_name(req.name) in pins
        and not req.specifier.contains(pins[canonicalize_name(req.name)], prereleases=True)
    ]
    assert outside == []
    missing = [
        str(req)
        for reqs in _declared().values()
        for req in reqs
        if canonicalize_name(req.name) not in pins
    ]
    assert missing == [], f"constraints.txt does not pin {missing}"


def _third_party_imports() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "hpo").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    # `_typeshed` exists only for type checkers (typeshed's stubs of the standard library)
    return names - set(sys.stdlib_module_names) - {"hpo", "__future__", "_typeshed"}


def test_every_third_party_module_hpo_imports_is_a_declared_dependency() -> None:
    """An undeclared import works only while another package happens to bring it, at a
    version nobody bounded."""
    declared = {canonicalize_name(req.name) for reqs in _declared().values() for req in reqs}
    providers = metadata.packages_distributions()
    undeclared = sorted(
        module
        for module in _third_party_imports() - OPTIONAL_IMPORTS.keys()
        if not {canonicalize_name(dist) for dist in providers.get(module, [module])} & declared
    )
    assert undeclared == [], f"hpo imports these without declaring them: {undeclared}"


def _quickstart() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Quickstart")
    return readme[start : readme.index("\n## ", start + 1)]


def test_the_quickstart_installs_the_pinned_versions_and_ci_runs_its_command_2() -> None:
    commands = INSTALL_LINE.findall(_quickstart())
    assert len(commands) == 2, commands
    assert all(" -c constraints.txt " in command for command in commands), commands
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert commands[1] in ci, "keep .ci/run's command identical to the Quickstart's command 2"
    assert "export CI=true" in ci[: ci.index(commands[1])], "CI=true before the test command"


def _pytest(test_file: Path, ci: bool, blocked: str = "") -> subprocess.CompletedProcess[str]:
    """Collect and run `test_file` in a fresh interpreter where `blocked` cannot be imported."""
    code = (
        f"import sys\nsys.modules.update(dict.fromkeys({blocked.split()!r}))\nimport pytest\n"
        f"sys.exit(pytest.main(['-q', '-rs', '-p', 'no:cacheprovider', '-o', 'addopts=',"
        f" {str(test_file)!r}]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true" if ci else ""}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env
    )


def test_a_missing_module_skips_locally_and_fails_under_ci(tmp_path: Path) -> None:
    test_file = tmp_path / "test_needs.py"
    test_file.write_text(
        "from tests.conftest import require_modules\n\n"
        "def test_needs_a_module():\n"
        "    require_modules('json', 'hpo_no_such_module', install='pip install it')\n"
    )
    local = _pytest(test_file, ci=False)
    assert local.returncode == 0 and "1 skipped" in local.stdout, local.stdout
    assert "hpo_no_such_module not installed: pip install it" in local.stdout
    in_ci = _pytest(test_file, ci=True)
    assert in_ci.returncode == 1 and "1 failed" in in_ci.stdout, in_ci.stdout
    assert "hpo_no_such_module not installed: pip install it (CI=true" in in_ci.stdout


def test_the_keras_tests_fail_under_ci_when_keras_is_missing() -> None:
    for test_file in (ROOT / "tests" / "test_models.py", ROOT / "tests" / "test_zoo.py"):
        local = _pytest(test_file, ci=False, blocked="keras")
        assert local.returncode == 5 and "1 skipped" in local.stdout, local.stdout
        in_ci = _pytest(test_file, ci=True, blocked="keras")
        assert in_ci.returncode not in (0, 5), in_ci.stdout
        assert "keras not installed" in in_ci.stdout and "CI=true" in in_ci.stdout


def test_no_test_skips_silently_on_a_missing_module() -> None:
    """`pytest.importorskip` and `skipif(<module missing>)` skip in CI too; the helpers of
    tests/conftest.py (`require_modules`, `import_or_skip_unless_ci`) fail there instead."""
    silent = [
        f"{path.name}:{number}"
        for path in sorted((ROOT / "tests").glob("*.py"))
        if path.name != Path(__file__).name
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "pytest.importorskip(" in line or "mark.skipif(" in line
    ]
    assert silent == []
