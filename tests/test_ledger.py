"""Unit tests for the study ledger (an Optuna study on a journal file)."""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import optuna
import pytest

from hpo.config.space import SearchSpace, SearchSpaceSpec, compile_space
from hpo.errors import UserInputError
from hpo.study.distributions import distribution, suggest
from hpo.study.ledger import Ledger
from hpo.study.storage import DEFAULT_LEDGER, make_storage
from hpo.urls import mask_url


def _ledger(tmp_path: Path, directions: tuple[str, ...] = ("maximize",)) -> Ledger:
    return Ledger.open(str(tmp_path / "l.journal"), "study", list(directions))


def _space() -> SearchSpace:
    return compile_space(
        SearchSpaceSpec.model_validate(
            {
                "params": {
                    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
                    "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
                    "momentum": {"type": "float", "low": 0, "high": 0.9, "when": {"opt": "sgd"}},
                    "units": {"type": "int", "low": 8, "high": 64, "step": 8},
                    "batch_size": 32,
                }
            }
        )
    )


# --------------------------------------------------------------------------- urls / storage


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://bob:s3cret@db.example:5432/hpo", "postgresql://bob:***@db.example:5432/hpo"),
        ("mysql+pymysql://u:p@ss:w@host/db", "mysql+pymysql://u:***@host/db"),
        ("postgresql://bob@host/db", "postgresql://bob@host/db"),
        ("sqlite:///tmp/x.db", "sqlite:///tmp/x.db"),
        ("journal://runs/ledger.journal", "journal://runs/ledger.journal"),
        ("ledger.journal", "ledger.journal"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_mask_url_never_shows_the_password() -> None:
    for password in ("s3cret", "p@ss", "a:b"):
        assert password not in mask_url(f"postgresql://user:{password}@host/db")


def test_mask_url_hides_query_password() -> None:
    assert "s3cret" not in mask_url("postgresql://bob@host/db?password=s3cret")


def test_make_storage_defaults_to_journal_in_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    storage = make_storage(None)
    assert isinstance(storage, optuna.storages.JournalStorage)
    optuna.create_study(storage=storage, study_name="s")
    assert (tmp_path / DEFAULT_LEDGER).is_file()


def test_make_storage_journal_url_creates_parent_folders(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "ledger.journal"
    storage = make_storage(f"journal://{target}")
    assert isinstance(storage, optuna.storages.JournalStorage)
    optuna.create_study(storage=storage, study_name="s")
    assert target.is_file()


def test_make_storage_bad_database_url_is_a_user_error() -> None:
    with pytest.raises(UserInputError) as info:
        make_storage("nosuchdialect://bob:s3cret@host/db")
    assert info.value.field == "--storage nosuchdialect://bob:***@host/db"
    assert "s3cret" not in str(info.value)


# --------------------------------------------------------------------------- distributions


def test_distribution_and_suggest_match_the_space(tmp_path: Path) -> None:
    space = _space()
    assert distribution(space["lr"]) == optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)
    assert distribution(space["units"]) == optuna.distributions.IntDistribution(8, 64, step=8)
    assert distribution(space["batch_size"]) == optuna.distributions.CategoricalDistribution((32,))
    ledger = _ledger(tmp_path)
    for _ in range(10):
        trial = ledger.study.ask()
        params = space.sample(partial(suggest, trial))
        assert space.contains(params)
        assert params["units"] % 8 == 0
        ledger.finish(trial.number, "COMPLETE", [0.0])


# --------------------------------------------------------------------------- finish


def test_finish_complete_stores_values_and_metrics(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    trial = ledger.study.ask()
    ledger.finish(trial.number, "COMPLETE", [0.75], metrics={"f1": 0.75, "loss": math.nan})
    (view,) = ledger.trials()
    assert view.state == "COMPLETE"
    assert view.values == (0.75,)
    assert view.metrics == {"f1": 0.75}  # non-finite metrics are dropped
    assert view.counts_toward_budget
    assert not view.interrupted


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_finish_with_non_finite_value_stores_fail(tmp_path: Path, value: float) -> None:
    ledger = _ledger(tmp_path)
    trial = ledger.study.ask()
    ledger.finish(trial.number, "COMPLETE", [value])
    (view,) = ledger.trials()
    assert view.state == "FAIL"
    assert view.values is None
    assert view.counts_toward_budget  # a real failure uses up budget


def test_finish_complete_without_values_stores_fail(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    trial = ledger.study.ask()
    ledger.finish(trial.number, "COMPLETE", None)
    assert ledger.trials()[0].state == "FAIL"


def test_finish_pruned_and_error(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    a = ledger.study.ask()
    b = ledger.study.ask()
    ledger.finish(a.number, "PRUNED", [0.3])
    ledger.finish(b.number, "FAIL", None, error="boom")
    views = {v.number: v for v in ledger.trials()}
    assert views[a.number].state == "PRUNED"
    assert views[a.number].values is None
    assert views[b.number].state == "FAIL"
    assert ledger.study.trials[b.number].user_attrs["hpo.error"] == "boom"
    assert ledger.n_counted() == 2


def test_finish_twice_without_attrs_is_skipped(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    trial = ledger.study.ask()
    ledger.finish(trial.number, "COMPLETE", [0.5])
    ledger.finish(trial.number, "FAIL", None)
    assert ledger.trials()[0].state == "COMPLETE"


def test_finish_after_fail_running_is_skipped(tmp_path: Path) -> None:
    # worker A's trial is marked FAIL by another process's fail_running; A then reports
    ledger = _ledger(tmp_path)
    trial = ledger.study.ask()
    ledger.fail_running("stale")
    ledger.finish(trial.number, "COMPLETE", [0.9], metrics={"f1": 0.9})
    assert ledger.trials()[0].state == "FAIL"


# --------------------------------------------------------------------------- fail_running


def test_fail_running_marks_running_trials_interrupted(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    done = ledger.study.ask()
    ledger.finish(done.number, "COMPLETE", [1.0])
    running = [ledger.study.ask().number for _ in range(2)]
    assert ledger.n_counted() == 1

    assert ledger.fail_running("process ended") == running
    views = {v.number: v for v in ledger.trials()}
    for number in running:
        assert views[number].state == "FAIL"
        assert views[number].interrupted
        assert not views[number].counts_toward_budget
        assert ledger.study.trials[number].user_attrs["hpo.error"] == "process ended"
    assert views[done.number].state == "COMPLETE"
    assert ledger.n_counted() == 1
    assert ledger.fail_running("again") == []


def test_running_trials_do_not_count(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    ledger.study.ask()
    (view,) = ledger.trials()
    assert view.state == "RUNNING"
    assert not view.counts_toward_budget
    assert ledger.n_counted() == 0


# --------------------------------------------------------------------------- attrs


def test_run_id_and_metrics_visible_in_trials(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    trial = ledger.study.ask()
    ledger.set_run_id(trial.number, "run-123")
    assert ledger.trials()[0].run_id == "run-123"
    ledger.finish(trial.number, "COMPLETE", [0.5], metrics={"f1": 0.5, "accuracy": 0.6})
    # a reopened ledger (another process) sees the same
    view = _ledger(tmp_path).trials()[0]
    assert view.run_id == "run-123"
    assert view.metrics == {"f1": 0.5, "accuracy": 0.6}
    assert view.params == {}


def test_study_attrs_round_trip(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    ledger.set_attrs({"hpo.search_sha256": "abc", "n": 3})
    assert _ledger(tmp_path).attrs() == {"hpo.search_sha256": "abc", "n": 3}
    assert ledger.name == "study"


def test_ask_fixed_records_given_params(tmp_path: Path) -> None:
    space = _space()
    ledger = _ledger(tmp_path)
    params = {"lr": 0.01, "opt": "sgd", "momentum": 0.5, "units": 16, "batch_size": 32}
    trial, actual = ledger.ask_fixed(space, params)
    assert actual == params
    ledger.finish(trial.number, "COMPLETE", [0.1])
    assert ledger.trials()[0].params == params


def test_enqueued_configuration_runs_before_a_backend_suggestion(tmp_path: Path) -> None:
    space = _space()
    ledger = _ledger(tmp_path)
    queued = {"lr": 0.001, "opt": "adam", "units": 8, "batch_size": 32}
    ledger.enqueue(queued)
    ledger.enqueue(queued)  # idempotent: a resumed run does not queue it twice
    proposed = {"lr": 0.01, "opt": "sgd", "momentum": 0.5, "units": 16, "batch_size": 32}
    _, actual = ledger.ask_fixed(space, proposed)
    assert actual == queued
    _, actual2 = ledger.ask_fixed(space, proposed)
    assert actual2 == proposed


# --------------------------------------------------------------------------- reopen


def test_reopen_keeps_trials(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    trial = ledger.study.ask()
    ledger.finish(trial.number, "COMPLETE", [0.5])
    again = _ledger(tmp_path)
    assert [v.number for v in again.trials()] == [0]
    assert again.study.ask().number == 1


def test_directions_mismatch_on_reopen(tmp_path: Path) -> None:
    _ledger(tmp_path, ("maximize",))
    with pytest.raises(UserInputError) as info:
        _ledger(tmp_path, ("minimize",))
    assert info.value.field == "--study"
    assert "other objective directions" in info.value.detail
    with pytest.raises(UserInputError):
        _ledger(tmp_path, ("maximize", "minimize"))
    assert _ledger(tmp_path, ("MAXIMIZE",)).name == "study"  # case does not matter


# --------------------------------------------------------------------------- in memory


def test_in_memory_ledger_serves_every_call_the_sweep_loop_makes() -> None:
    ledger = Ledger.in_memory("unit", ["maximize"])
    space = _space()
    trial, params = ledger.ask_fixed(
        space, {"lr": 0.01, "opt": "adam", "units": 16, "batch_size": 32}
    )
    assert trial.number == 0 and params["lr"] == 0.01
    number, sampled = ledger.ask_sampled(space)
    assert number == 1 and space.contains(sampled)
    ledger.enqueue({"lr": 0.02, "opt": "adam", "units": 8, "batch_size": 32})
    ledger.set_run_id(0, "run-0")
    ledger.finish(0, "COMPLETE", [0.5], metrics={"f1": 0.5})
    ledger.set_attrs({"hpo.sweep_run_id": "sweep"})
    assert ledger.attrs() == {"hpo.sweep_run_id": "sweep"}
    assert not ledger.heartbeats and ledger.fail_stale() == [] and ledger.ask_retry(space) is None
    beat = ledger.heartbeat_thread(1)
    beat.start()
    beat.join()
    with ledger.claim():
        assert ledger.fail_running("gone") == [1]
    trials = ledger.trials()
    assert [(t.state, t.run_id, t.interrupted) for t in trials] == [
        ("COMPLETE", "run-0", False),
        ("FAIL", None, True),
        ("WAITING", None, False),
    ]
    assert trials[0].metrics == {"f1": 0.5} and ledger.n_counted() == 1
    assert ledger.trial_id(1) != ledger.trial_id(0)


def test_in_memory_ledger_keeps_directions() -> None:
    ledger = Ledger.in_memory("pareto", ["maximize", "MINIMIZE"])
    assert [d.name for d in ledger.study.directions] == ["MAXIMIZE", "MINIMIZE"]
