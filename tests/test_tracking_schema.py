"""hpo/tracking/schema.py is the README's MLflow schema in code: the two must agree."""

from __future__ import annotations

import ast
import re

from hpo.tracking import schema
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
HPO_NAME = re.compile(r"hpo\.[a-z_0-9]+")


def _hpo_names() -> dict[str, str]:
    return {
        name: value
        for name, value in vars(schema).items()
        if name.isupper() and isinstance(value, str) and value.startswith("hpo.")
    }


def _schema_section() -> str:
    start = README.index("## MLflow schema")
    return README[start : README.index("\n## ", start + 1)]


def test_every_hpo_name_in_schema_py_is_documented_in_the_readme() -> None:
    missing = {name: value for name, value in _hpo_names().items() if value not in README}
    assert missing == {}, f"document these in README.md's MLflow schema section: {missing}"


def test_every_tag_of_the_readme_schema_section_is_in_schema_py() -> None:
    known = set(_hpo_names().values())
    documented = set(HPO_NAME.findall(_schema_section()))
    assert documented - known == set(), "add these to hpo/tracking/schema.py"


# the ledger's own study/trial attributes (hpo/study/) are Optuna's, not MLflow's schema
LEDGER_ATTRS = ROOT / "hpo" / "study"


def test_mlflow_names_are_written_only_through_schema_py() -> None:
    literals = {}
    for path in sorted((ROOT / "hpo").rglob("*.py")):
        if path.name == "schema.py" or LEDGER_ATTRS in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            # a tag as a value, or inside a search filter (tags.`hpo.kind` = ...)
            if HPO_NAME.fullmatch(node.value) or "tags.`hpo." in node.value:
                literals[f"{path.relative_to(ROOT)}:{node.lineno}"] = node.value
    assert literals == {}, f"use the constants of hpo/tracking/schema.py: {literals}"
