"""The one rule for names hpo turns into paths, filter strings and URLs: experiments, studies.

An experiment name becomes an MLflow artifact folder and a study name goes into MLflow
search filters and the ledger; a name like `..` put artifacts in the working directory and
one with a quote was never found again. So both are restricted to a safe set, checked here
for the config (`name`, `tracking.experiment`) and the CLI (`--study`) alike.
"""

from __future__ import annotations

import re

MAX_NAME_LENGTH = 128
_SAFE = re.compile(r"[A-Za-z0-9_.\-]+")
NAME_RULE = (
    f"letters, digits, '-', '_' and '.' only, at most {MAX_NAME_LENGTH} characters, not '.' or '..'"
)


def name_problem(name: str) -> str | None:
    """What is wrong with `name` as an experiment or study name, or None when it is safe."""
    if not name:
        return "must not be empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"is {len(name)} characters long (at most {MAX_NAME_LENGTH})"
    if name in (".", ".."):
        return f"{name!r} is not allowed (it names a folder)"
    bad = next((c for c in name if not _SAFE.fullmatch(c)), None)
    if bad is not None:
        return f"{name!r} contains {bad!r}: use {NAME_RULE}"
    return None


def check_name(name: str) -> str:
    """`name` itself when safe; a ValueError saying why not (pydantic and click both take it)."""
    problem = name_problem(name)
    if problem is not None:
        raise ValueError(problem)
    return name


def fit_name(base: str, suffix: str) -> str:
    """`base` + `suffix` cut so the whole stays within the length limit (derived names such
    as a default study name, `<experiment>-<timestamp>`)."""
    return base[: max(MAX_NAME_LENGTH - len(suffix), 1)] + suffix
