"""A resume with another training setup is refused, a strategy change needs the user's word,
and a refusal writes nothing: not to the ledger, not to MLflow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType

from hpo.errors import UserInputError
from hpo.study.ledger import (
    DATA_SHA256_ATTR,
    EXPERIMENT_ATTR,
    SEARCH_SHA256_ATTR,
    STRATEGY_ATTR,
    TRAINING_ATTR,
    Ledger,
)
from hpo.sweep.resume import TRAINING_FIELDS, check_resume

JOURNAL = "hpo-ledger.journal"


def _mlflow(workdir: Path) -> list[Any]:
    """Everything MLflow holds about the runs: what a refused resume must not touch."""
    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    exp = client.get_experiment_by_name("tiny")
    runs = client.search_runs([exp.experiment_id], run_view_type=ViewType.ALL)
    return sorted(
        (
            r.info.run_id,
            r.info.status,
            r.info.end_time,
            r.data.tags,
            r.data.params,
            r.data.metrics,
            sorted(a.path for a in client.list_artifacts(r.info.run_id)),
        )
        for r in runs
    )


def _error_line(stderr: str) -> str:
    (line,) = stderr.splitlines()
    assert line.startswith("hpo: error:") and "Traceback" not in stderr
    return line


@pytest.mark.slow
def test_changed_training_or_strategy_is_refused_and_writes_nothing(write_config, workdir, cli):
    path = write_config(**{"budget.trials": 1})
    first = cli("run", str(path), "--study", "s", "--json")
    assert first.returncode == 0, first.stderr
    journal = (workdir / JOURNAL).read_bytes()
    mlflow = _mlflow(workdir)

    changed = write_config(
        name="changed.yaml",
        **{
            "budget.trials": 1,
            "budget.epochs": 2,
            "budget.early_stopping_patience": 3,
            "strategy.pruner": "median",
        },
    )
    refused = cli("run", str(changed), "--study", "s")
    assert refused.returncode == 2, refused.stderr
    line = _error_line(refused.stderr)
    assert "study 's' was trained with epochs=1," in line
    assert "this config has epochs=2, early_stopping_patience=3, pruner=median" in line
    assert "(changed: epochs, early_stopping_patience, pruner)" in line
    assert "new --study name" in line

    strategy = cli("run", str(path), "--study", "s", "--strategy", "optuna-tpe")
    assert strategy.returncode == 2, strategy.stderr
    line = _error_line(strategy.stderr)
    assert "strategy random" in line and "optuna-tpe" in line
    assert "--allow-strategy-change" in line

    assert (workdir / JOURNAL).read_bytes() == journal  # the ledger: not one byte
    assert _mlflow(workdir) == mlflow  # MLflow: no run, tag, param, metric or artifact

    allowed = cli(
        "run",
        str(path),
        "--study",
        "s",
        "--strategy",
        "optuna-tpe",
        "--allow-strategy-change",
        "--trials",
        "2",
        "--json",
    )
    assert allowed.returncode == 0, allowed.stderr
    summary = json.loads(allowed.stdout)
    assert summary["states"]["COMPLETE"] == 2 and summary["strategy"] == "optuna-tpe"
    assert "continues with strategy optuna-tpe (was random)" in allowed.stderr
    ledger = Ledger.open(str(workdir / JOURNAL), "s", ["maximize"])
    assert ledger.attrs()[STRATEGY_ATTR] == {"name": "optuna-tpe", "options": {}}


# ----------------------------------------------------------------- check_resume, in-process

TRAINING = {
    "epochs": 1,
    "batch_size": 32,
    "early_stopping_patience": None,
    "pruner": "none",
    "cv": "validation",
}
WANTED = {
    SEARCH_SHA256_ATTR: "s",
    DATA_SHA256_ATTR: "d",
    EXPERIMENT_ATTR: "tiny",
    TRAINING_ATTR: TRAINING,
    STRATEGY_ATTR: {"name": "random", "options": {}},
}


def test_a_new_study_records_everything():
    assert check_resume("s", {}, WANTED) == WANTED


def test_a_study_from_before_these_checks_gets_them_on_its_first_resume():
    old = {SEARCH_SHA256_ATTR: "s", DATA_SHA256_ATTR: "d", EXPERIMENT_ATTR: "tiny"}
    notes: list[str] = []
    updates = check_resume("s", old, WANTED, notify=notes.append)
    assert updates == {TRAINING_ATTR: TRAINING, STRATEGY_ATTR: WANTED[STRATEGY_ATTR]}
    assert len(notes) == 1 and "no record of its training setup" in notes[0]


def test_a_training_field_added_later_is_recorded_not_refused():
    older = {k: v for k, v in TRAINING.items() if k != "cv"}
    updates = check_resume("s", {**WANTED, TRAINING_ATTR: older}, WANTED)
    assert updates == {TRAINING_ATTR: TRAINING}


@pytest.mark.parametrize("field", TRAINING_FIELDS)
def test_every_training_field_is_checked(field):
    recorded = {**WANTED, TRAINING_ATTR: {**TRAINING, field: "something else"}}
    with pytest.raises(UserInputError, match=rf"\(changed: {field}\)"):
        check_resume("s", recorded, WANTED)


def test_changed_strategy_options_need_the_flag_too():
    recorded = {**WANTED, STRATEGY_ATTR: {"name": "random", "options": {"x": 1}}}
    with pytest.raises(UserInputError, match="--allow-strategy-change"):
        check_resume("s", recorded, WANTED)
    updates = check_resume("s", recorded, WANTED, allow_strategy_change=True)
    assert updates == {STRATEGY_ATTR: WANTED[STRATEGY_ATTR]}


def test_an_unchanged_resume_writes_nothing():
    assert check_resume("s", WANTED, WANTED) == {}
