"""Names and limits (issue 12, item 10): experiment and study names from a safe set, `cv` of
at least 2, `--workers` within the CPU count unless forced, and no test-split metric in
`--metric` / `--where` (the test split must never choose the model)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from hpo.cli.options import usable_cpus
from hpo.config.names import MAX_NAME_LENGTH, name_problem
from hpo.config.selection import parse_where, select_trial
from hpo.errors import UserInputError
from tests.conftest import tiny_experiment
from tests.models_helpers import SweepDir, error_line, sweep_dir
from tests.test_bad_input import _assert_clean_failure

UNSAFE = ["..", ".", "it's", "two words", "a/b", "back\\slash", "x" * (MAX_NAME_LENGTH + 1), ""]


@pytest.mark.parametrize("name", UNSAFE)
def test_unsafe_experiment_name_is_refused(cli, write_config, workdir, name: str) -> None:
    path = write_config(tiny_experiment(name=name))
    _assert_clean_failure(cli("run", str(path)), workdir, "exp.yaml", "name:")


def test_unsafe_tracking_experiment_is_refused(cli, write_config, workdir) -> None:
    path = write_config(**{"tracking.experiment": ".."})
    _assert_clean_failure(
        cli("validate", str(path)), workdir, "exp.yaml", "tracking.experiment", "'..'"
    )


def test_every_safe_character_is_accepted(cli, write_config, workdir) -> None:
    name = "Digits-MLP_v1.2." + "x" * (MAX_NAME_LENGTH - 16)
    assert len(name) == MAX_NAME_LENGTH
    done = cli("validate", str(write_config(tiny_experiment(name=name))))
    assert done.returncode == 0, done.stderr
    assert name in done.stdout


def _usage_error(done: Any, *fragments: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "Invalid value for '--study'" in done.stderr
    for fragment in fragments:
        assert fragment in done.stderr, done.stderr


@pytest.mark.parametrize("study", ["it's", "..", "a b", "x" * (MAX_NAME_LENGTH + 1)])
def test_unsafe_study_is_refused_by_run_before_anything_is_written(
    cli, write_config, workdir, study: str
) -> None:
    done = cli("run", str(write_config()), "--study", study)
    _usage_error(done, (name_problem(study) or "")[:40])
    assert sorted(p.name for p in workdir.iterdir()) == ["exp.yaml"]


@pytest.mark.parametrize(
    "command",
    [
        ["trials", "tiny"],
        ["best", "tiny"],
        ["report", "tiny"],
        ["promote", "tiny", "--model-name", "m"],
        ["worker", "exp.yaml", "--storage", "postgresql://u@127.0.0.1:1/none"],
    ],
)
def test_unsafe_study_is_refused_by_every_command(cli, workdir, command: list[str]) -> None:
    _usage_error(cli(*command, "--study", "it's"), 'contains "\'"')
    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize("cv", [1, 0, -2])
def test_cv_needs_at_least_two_folds(cli, write_config, workdir, cv: int) -> None:
    path = write_config(strategy={"name": "grid", "options": {"cv": cv}})
    _assert_clean_failure(
        cli("validate", str(path)), workdir, "exp.yaml", "strategy.options.cv", ">= 2", str(cv)
    )


def test_more_workers_than_cpus_is_refused(cli, write_config, workdir) -> None:
    cpus = usable_cpus()
    done = cli("run", str(write_config()), "--workers", str(cpus + 1))
    _assert_clean_failure(
        done, workdir, "--workers", f"{cpus + 1} is more than the {cpus} CPU", "--force-workers"
    )


def test_force_workers_lifts_the_bound(cli, write_config, workdir) -> None:
    """Forced, the worker count passes and the next check speaks (here: a bad config)."""
    path = write_config(**{"budget.trails": 1})
    args = ("run", str(path), "--workers", str(usable_cpus() + 1))
    _assert_clean_failure(cli(*args, "--force-workers"), workdir, "budget.trails", "unknown key")


# ------------------------------------------------------------ test metrics never select


@dataclass
class _Run:
    trial: int
    metrics: dict[str, float]
    params: dict[str, Any] = field(default_factory=dict)
    state: str = "COMPLETE"
    has_model: bool = True


RUNS = [
    _Run(0, {"f1": 0.9, "test_f1": 0.5}, {"test_time_aug": "1"}),
    _Run(1, {"f1": 0.8, "test_f1": 0.7}),
]


@pytest.mark.parametrize("where", ["test_f1>0.6", "f1>0, test_accuracy<1"])
def test_where_refuses_test_metrics(where: str) -> None:
    with pytest.raises(UserInputError) as info:
        parse_where([where], RUNS)
    assert info.value.field == "--where" and "test split" in info.value.detail


def test_where_still_takes_a_parameter_named_test_something() -> None:
    assert [str(w) for w in parse_where(["test_time_aug>=1"], RUNS)] == ["test_time_aug>=1"]


def test_metric_refuses_test_metrics() -> None:
    with pytest.raises(UserInputError) as info:
        select_trial(RUNS, "test_f1", "maximize", [], "f1", "maximize")
    assert info.value.field == "--metric" and "'test_f1'" in info.value.detail


@pytest.fixture(scope="module")
def promoted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SweepDir]:
    """A real sweep whose best run carries test metrics (a first promote logged them)."""
    for folder in sweep_dir(tmp_path_factory, "names"):
        folder.run_sweep("s1", **{"budget.trials": 1})
        done = folder.cli("promote", "tiny", "--model-name", "first", "--json")
        assert done.returncode == 0, done.stderr
        assert "test_f1" in json.loads(done.stdout)["test_metrics"]
        yield folder


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "flag"),
    [(["--metric", "test_f1"], "--metric"), (["--where", "test_f1>=0"], "--where")],
)
def test_promote_never_selects_on_test_metrics(
    promoted: SweepDir, args: list[str], flag: str
) -> None:
    before = promoted.registry_state()
    done = promoted.cli("promote", "tiny", "--model-name", "second", *args)
    assert done.returncode == 2, done.stderr
    line = error_line(done)
    assert flag in line and "'test_f1'" in line and "test split" in line
    assert promoted.registry_state() == before
