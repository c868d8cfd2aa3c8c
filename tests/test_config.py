"""Unit tests for experiment loading, validation, overrides and hashing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from hpo.config.experiment import Experiment, load_experiment
from hpo.errors import UserInputError
from tests.conftest import tiny_experiment

SPACE_FILE: dict[str, Any] = {
    "params": {
        "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
        "momentum": {"type": "float", "low": 0.0, "high": 0.9, "when": {"optimizer": "sgd"}},
    },
    "layers": {
        "n_layers": {
            "count": {"low": 1, "high": 2},
            "per_layer": {"units": {"type": "int", "low": 8, "high": 32}},
        }
    },
}


def _write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _load(tmp_path: Path, **changes: Any) -> Experiment:
    return load_experiment(_write(tmp_path / "exp.yaml", tiny_experiment(**changes)))


# --------------------------------------------------------------------------- loading


def test_inline_space_loads(tmp_path: Path) -> None:
    exp = _load(tmp_path)
    assert exp.name == "tiny"
    assert exp.seed == 3
    assert exp.data.source == "digits"
    assert exp.data.max_samples == 300
    assert exp.budget.trials == 2 and exp.budget.epochs == 1
    assert set(exp.space.names) == {"learning_rate", "units", "batch_size"}
    assert exp.space["batch_size"].kind == "fixed"
    assert exp.space["learning_rate"].log
    assert exp.experiment_name == "tiny"


def test_space_file_beside_the_config(tmp_path: Path) -> None:
    _write(tmp_path / "cfg" / "space.yaml", SPACE_FILE)
    config = tiny_experiment(search_space="space.yaml")
    exp = load_experiment(_write(tmp_path / "cfg" / "exp.yaml", config))
    assert set(exp.space.names) == {
        "learning_rate",
        "optimizer",
        "momentum",
        "n_layers",
        "units_0",
        "units_1",
    }
    # the resolved experiment carries the space inline
    assert isinstance(exp.search_space.model_dump(), dict)
    assert "momentum" in exp.to_yaml()


def test_space_file_in_the_parent_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # the working directory has no search_spaces/
    _write(tmp_path / "search_spaces" / "mlp.yaml", SPACE_FILE)
    config = tiny_experiment(search_space="search_spaces/mlp.yaml")
    exp = load_experiment(_write(tmp_path / "experiments" / "exp.yaml", config))
    assert "units_1" in exp.space.names


def test_space_file_beside_config_wins_over_parent(tmp_path: Path) -> None:
    _write(tmp_path / "space.yaml", {"params": {"units": {"type": "int", "low": 1, "high": 2}}})
    _write(tmp_path / "experiments" / "space.yaml", SPACE_FILE)
    config = tiny_experiment(search_space="space.yaml")
    exp = load_experiment(_write(tmp_path / "experiments" / "exp.yaml", config))
    assert "optimizer" in exp.space.names


def test_missing_space_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserInputError) as info:
        load_experiment(_write(tmp_path / "exp.yaml", tiny_experiment(search_space="nope.yaml")))
    assert info.value.field == "search_space"
    assert info.value.detail == "file not found"
    assert "nope.yaml" in str(info.value)


def test_invalid_space_file_names_the_space_file(tmp_path: Path) -> None:
    bad = {"params": {"units": {"type": "int", "low": 9, "high": 1}}}
    space_path = _write(tmp_path / "space.yaml", bad)
    with pytest.raises(UserInputError) as info:
        load_experiment(_write(tmp_path / "exp.yaml", tiny_experiment(search_space="space.yaml")))
    assert info.value.source == str(space_path.resolve())
    assert info.value.field is not None and info.value.field.startswith("params.units")
    assert "low (9) must be <= high (1)" in info.value.detail


def test_data_path_resolved_beside_config(tmp_path: Path) -> None:
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "rows.csv").write_text("a,target\n1,0\n")
    config = tiny_experiment(**{"data": {"source": "csv", "path": "rows.csv"}})
    exp = load_experiment(_write(tmp_path / "cfg" / "exp.yaml", config))
    assert exp.data.path == str((tmp_path / "cfg" / "rows.csv").resolve())


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"budget.trails": 3}, "budget.trails", "unknown key"),
        ({"bogus": 1}, "bogus", "unknown key"),
        ({"data.sourc": "digits"}, "data.sourc", "unknown key"),
        ({"search_space.params.units.lo": 1}, "search_space.params.units.int.lo", "unknown key"),
        ({"budget.trials": 0}, "budget.trials", "greater than or equal to 1"),
        ({"budget.trials": "many"}, "budget.trials", "integer"),
        ({"data.source": "mnist"}, "data.source", "Input should be"),
        ({"objective.metric": "auc"}, "objective.metric", "Input should be"),
        (
            {"search_space.params.units": {"type": "integer", "low": 1, "high": 2}},
            "search_space.params.units",
            "type must be one of float, int, categorical, fixed",
        ),
        (
            {"data.validation_size": 0.5, "data.test_size": 0.45},
            "data",
            "must leave at least 10% for training",
        ),
        ({"data.path": "x.csv"}, "data", "'path' is only for sources"),
        ({"data.source": "csv"}, "data", "source 'csv' needs 'path'"),
    ],
)
def test_bad_config_names_the_field(
    tmp_path: Path, changes: dict[str, Any], field: str, fragment: str
) -> None:
    path = _write(tmp_path / "exp.yaml", tiny_experiment(**changes))
    with pytest.raises(UserInputError) as info:
        load_experiment(path)
    assert info.value.source == str(path)
    assert info.value.field == field
    assert fragment in info.value.detail
    assert str(info.value).startswith(f"{path}: {field}: ")


def test_several_problems_are_counted(tmp_path: Path) -> None:
    path = _write(tmp_path / "exp.yaml", tiny_experiment(**{"budget.trails": 3, "budget.x": 1}))
    with pytest.raises(UserInputError, match=r"\(and 1 more problem\)"):
        load_experiment(path)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(UserInputError, match="top level must be a mapping"):
        load_experiment(path)


def test_invalid_yaml_reports_line(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text("name: x\ndata: [unclosed\n")
    with pytest.raises(UserInputError, match=r"invalid YAML: line \d+, column \d+"):
        load_experiment(path)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="file not found"):
        load_experiment(tmp_path / "nope.yaml")


# --------------------------------------------------------------------------- defaults


def test_defaults(tmp_path: Path) -> None:
    config = tiny_experiment()
    del config["objective"], config["strategy"], config["budget"], config["seed"]
    exp = load_experiment(_write(tmp_path / "exp.yaml", config))
    assert (exp.objective.metric, exp.objective.average, exp.objective.direction) == (
        "f1",
        "macro",
        "maximize",
    )
    assert exp.strategy.name == "optuna-tpe"
    assert exp.strategy.options == {}
    assert exp.seed == 0
    assert exp.budget.trials == 20 and exp.budget.epochs == 10
    assert exp.data.scaling == "standard"
    assert exp.data.validation_size == 0.2 and exp.data.test_size == 0.2
    assert exp.tracking.uri is None and exp.tracking.log_models is True


def test_tracking_experiment_name_overrides_name(tmp_path: Path) -> None:
    exp = _load(tmp_path, **{"tracking.experiment": "other"})
    assert exp.experiment_name == "other"


# --------------------------------------------------------------------------- overrides


def test_with_overrides_applies_dotted_keys(tmp_path: Path) -> None:
    exp = _load(tmp_path)
    changed = exp.with_overrides(**{"budget.trials": 7, "seed": 11, "strategy.name": "random"})
    assert changed.budget.trials == 7
    assert changed.seed == 11
    assert changed.strategy.name == "random"
    assert exp.budget.trials == 2  # the original is untouched (frozen)
    assert changed.search_space == exp.search_space


def test_with_overrides_skips_none(tmp_path: Path) -> None:
    exp = _load(tmp_path)
    assert exp.with_overrides(**{"budget.trials": None}) == exp


def test_with_overrides_validates(tmp_path: Path) -> None:
    exp = _load(tmp_path)
    with pytest.raises(UserInputError) as info:
        exp.with_overrides(**{"budget.trials": 0})
    assert info.value.source == "command line"
    assert info.value.field == "budget.trials"


def test_frozen(tmp_path: Path) -> None:
    exp = _load(tmp_path)
    with pytest.raises(ValidationError, match="frozen"):
        exp.seed = 1


# --------------------------------------------------------------------------- hashing


def test_sha256_is_stable(tmp_path: Path) -> None:
    first = _load(tmp_path)
    second = _load(tmp_path / "again")
    assert first.sha256() == second.sha256()
    assert len(first.sha256()) == 64
    assert first.search_sha256() == second.search_sha256()
    # a round trip through YAML gives the same hash
    round_trip = load_experiment(_write(tmp_path / "rt.yaml", yaml.safe_load(first.to_yaml())))
    assert round_trip.sha256() == first.sha256()


def test_sha256_changes_when_config_changes(tmp_path: Path) -> None:
    exp = _load(tmp_path)
    assert exp.with_overrides(seed=4).sha256() != exp.sha256()
    assert exp.with_overrides(**{"budget.trials": 3}).sha256() != exp.sha256()
    assert exp.with_overrides(**{"tracking.experiment": "x"}).sha256() != exp.sha256()


def test_search_sha256_ignores_budget_and_tracking(tmp_path: Path) -> None:
    exp = _load(tmp_path)
    other = exp.with_overrides(
        **{"budget.trials": 99, "budget.epochs": 3, "tracking.experiment": "elsewhere"}
    )
    assert other.sha256() != exp.sha256()
    assert other.search_sha256() == exp.search_sha256()


@pytest.mark.parametrize(
    "changes",
    [
        {"seed": 4},
        {"data.max_samples": 200},
        {"model.builder": "cnn"},
        {"objective.average": "weighted"},
        {"objective.direction": "minimize"},
        {"search_space.params.units.high": 33},
    ],
)
def test_search_sha256_changes_with_what_defines_trials(
    tmp_path: Path, changes: dict[str, Any]
) -> None:
    exp = _load(tmp_path)
    assert _load(tmp_path / "other", **changes).search_sha256() != exp.search_sha256()
