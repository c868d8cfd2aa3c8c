"""Bad input: exit 2, one line naming file, field and problem, no traceback, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import tiny_experiment


def _assert_clean_failure(done, workdir: Path, *fragments: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert done.stdout == ""
    # nothing half-written: no tracking database, no artifacts, no ledger
    assert not (workdir / "mlflow.db").exists()
    assert not (workdir / "hpo-ledger.journal").exists()
    assert not (workdir / "mlruns").exists() or not any((workdir / "mlruns").iterdir())


CASES = {
    "unknown key": ({"budget.trails": 3}, ["exp.yaml", "budget.trails", "unknown key"]),
    "wrong type": ({"budget.trials": "many"}, ["exp.yaml", "budget.trials", "integer"]),
    "low > high": (
        {"search_space.params.units": {"type": "int", "low": 50, "high": 10}},
        ["exp.yaml", "search_space.params.units", "low (50) must be <= high (10)"],
    ),
    "log with low <= 0": (
        {"search_space.params.learning_rate": {"type": "float", "low": 0, "high": 1, "log": True}},
        ["search_space.params.learning_rate", "log scale needs low > 0"],
    ),
    "empty choices": (
        {"search_space.params.units": {"type": "categorical", "choices": []}},
        ["search_space.params.units", "choices must not be empty"],
    ),
    "unknown param type": (
        {"search_space.params.units": {"type": "integer", "low": 1, "high": 3}},
        ["search_space.params.units", "type must be one of"],
    ),
    "unknown strategy": (
        {"strategy.name": "simulated-annealing"},
        ["exp.yaml", "strategy.name", "unknown strategy 'simulated-annealing'"],
    ),
    "unknown strategy option": (
        {"strategy.options": {"bogus": 1}},
        ["strategy.options.bogus", "unknown option"],
    ),
    "unknown model": (
        {"model.builder": "transformer-xl"},
        ["exp.yaml", "model.builder", "unknown builder 'transformer-xl'"],
    ),
    "builder module missing": (
        {"model.builder": "python:no_such_mod:build"},
        ["model.builder", "no_such_mod"],
    ),
    "param the builder does not take": (
        {"search_space.params.n_heads": 4},
        ["search_space.n_heads", "does not take 'n_heads'", "learning_rate"],
    ),
    "unknown dataset": ({"data.source": "mnist"}, ["exp.yaml", "data.source"]),
    "condition on unknown parent": (
        {
            "search_space.params.momentum": {
                "type": "float",
                "low": 0,
                "high": 1,
                "when": {"optimizer": "sgd"},
            }
        },
        ["search_space", "unknown parameter 'optimizer'"],
    ),
    "binary average on 10 classes": (
        {"objective.average": "binary"},
        ["objective.average", "needs 2 classes"],
    ),
    "bad metric": ({"objective.metric": "auc"}, ["objective.metric"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_config_exits_2_with_one_clear_line(case, cli, write_config, workdir):
    changes, fragments = CASES[case]
    path = write_config(**changes)
    _assert_clean_failure(cli("run", str(path)), workdir, *fragments)


def test_missing_config_file(cli, workdir):
    _assert_clean_failure(cli("run", "nope.yaml"), workdir, "nope.yaml", "file not found")


def test_invalid_yaml(cli, workdir):
    (workdir / "bad.yaml").write_text("name: x\ndata: [unclosed\n")
    _assert_clean_failure(cli("run", "bad.yaml"), workdir, "bad.yaml", "invalid YAML", "line")


def test_missing_search_space_file(cli, write_config, workdir):
    config = tiny_experiment()
    config["search_space"] = "search_spaces/none.yaml"
    path = write_config(config)
    _assert_clean_failure(
        cli("run", str(path)), workdir, "none.yaml", "search_space", "file not found"
    )


def test_bad_search_space_file_names_that_file(cli, write_config, workdir):
    (workdir / "space.yaml").write_text("params:\n  units: {type: int, low: 9, high: 1}\n")
    config = tiny_experiment()
    config["search_space"] = "space.yaml"
    path = write_config(config)
    _assert_clean_failure(
        cli("run", str(path)), workdir, "space.yaml", "params.units", "low (9) must be <= high (1)"
    )


def test_csv_without_target_column(cli, write_config, workdir):
    (workdir / "d.csv").write_text(
        "a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40))
    )
    path = write_config(**{"data": {"source": "csv", "path": "d.csv", "target": "y"}})
    _assert_clean_failure(
        cli("run", str(path)), workdir, "d.csv", "data.target", "no target column 'y'"
    )


def test_csv_with_non_numeric_feature(cli, write_config, workdir):
    (workdir / "d.csv").write_text(
        "a,colour,target\n"
        + "".join(f"{i},{'red' if i % 2 else 'blue'},{i % 2}\n" for i in range(40))
    )
    path = write_config(**{"data": {"source": "csv", "path": "d.csv"}})
    _assert_clean_failure(cli("run", str(path)), workdir, "d.csv", "'colour' is not numeric")


def test_bad_flag_value(cli, write_config, workdir):
    path = write_config()
    done = cli("run", str(path), "--trials", "0")
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_validate_prints_a_summary_and_writes_nothing(cli, write_config, workdir):
    path = write_config()
    done = cli("validate", str(path))
    assert done.returncode == 0, done.stderr
    assert "config OK" in done.stdout and "learning_rate" in done.stdout
    assert "fingerprint" in done.stdout
    assert not (workdir / "mlflow.db").exists()


def test_unknown_experiment_for_trials(cli, workdir):
    done = cli("trials", "never-ran")
    assert done.returncode == 2 and "no MLflow database" in done.stderr
    assert not (workdir / "mlflow.db").exists()
