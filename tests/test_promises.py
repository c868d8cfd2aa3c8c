"""README promises no other test checked, on real sweeps through the CLI.

One module-scoped set of small sweeps (300 digits rows, at most 3 epochs) feeds every test:
  a  5 trials, resumed to 6: `tracking.experiment`, early stopping, the median pruner, the
     sweep run's counts and objective tags, "a model is logged only when a trial beats the
     best so far"; then the refused resumes (last in this file: they must change nothing);
  b  the same config and seed as `a` with `tracking.log_models: false`: reproducibility, and
     no model logged;
  w  `--workers 2` on the journal ledger, minimising `n_params`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, run_cli, tiny_experiment
from tests.models_helpers import SweepDir, error_line, sweep_dir

pytestmark = pytest.mark.slow

EXPERIMENT = "promised"
EPOCHS = 3
# learning rate 0: the weights never move, so val_loss never improves and early stopping
# (patience 1) certainly ends the trial after 2 of its 3 epochs
STILL = [{"learning_rate": 0.0, "units": 8}]
# queued on resume, after 5 finished trials (the median pruner's start-up): an untrained
# model scores below the median of trained ones after epoch 1, so it is certainly pruned
STILL_AFTER_RESUME = [{"learning_rate": 0.0, "units": 9}]


def _config(**changes: Any) -> dict[str, Any]:
    return tiny_experiment(
        **{
            "tracking.experiment": EXPERIMENT,
            "search_space.params.learning_rate": {"type": "float", "low": 0.0, "high": 0.02},
            "strategy.pruner": "median",
            "budget.trials": 5,
            "budget.epochs": EPOCHS,
            "budget.early_stopping_patience": 1,
            **changes,
        }
    )


def _run(folder: SweepDir, config: str, study: str, *args: str) -> dict[str, Any]:
    done = run_cli("run", config, "--study", study, "--json", "--quiet", *args, cwd=folder.path)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    for folder in sweep_dir(tmp_path_factory, "promises"):
        path = folder.path
        for name, config in {
            "exp.yaml": _config(),
            "twin.yaml": _config(**{"tracking.log_models": False}),
            "workers.yaml": _config(
                **{
                    "objective": {"metric": "n_params"},
                    "strategy.pruner": "none",
                    "budget.trials": 4,
                    "budget.epochs": 1,
                    "budget.early_stopping_patience": None,
                }
            ),
        }.items():
            (path / name).write_text(yaml.safe_dump(config))
        (path / "still.json").write_text(json.dumps(STILL))
        (path / "still-after-resume.json").write_text(json.dumps(STILL_AFTER_RESUME))
        summaries = {
            "a5": _run(folder, "exp.yaml", "a", "--enqueue", "still.json"),
            "a": _run(
                folder, "exp.yaml", "a", "--trials", "6", "--enqueue", "still-after-resume.json"
            ),
            "b": _run(folder, "twin.yaml", "b", "--enqueue", "still.json"),
            "w": _run(folder, "workers.yaml", "w", "--workers", "2"),
        }
        yield {"dir": folder, "summaries": summaries}


def _study_runs(folder: SweepDir, study: str) -> tuple[Any, dict[int, Any]]:
    """The study's sweep run and its trial runs by trial number."""
    client = folder.client()
    experiment = client.get_experiment_by_name(EXPERIMENT)
    runs = client.search_runs(
        [experiment.experiment_id], f"tags.`hpo.study` = '{study}'", max_results=1000
    )
    (sweep,) = [r for r in runs if r.data.tags["hpo.kind"] == "sweep"]
    trials = {int(r.data.tags["hpo.trial"]): r for r in runs if r.data.tags["hpo.kind"] == "trial"}
    return sweep, trials


def _history(folder: SweepDir, run: Any, key: str) -> list[float]:
    points = folder.client().get_metric_history(run.info.run_id, key)
    return [p.value for p in sorted(points, key=lambda p: p.step)]


def _has_model(folder: SweepDir, run: Any) -> bool:
    return "model" in [a.path for a in folder.client().list_artifacts(run.info.run_id)]


def _ledger_trials(folder: SweepDir, study: str) -> list[Any]:
    import optuna
    from optuna.storages.journal import JournalFileBackend

    backend = JournalFileBackend(str(folder.path / "hpo-ledger.journal"))
    storage = optuna.storages.JournalStorage(backend)
    return optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)


# --------------------------------------------------------------------------- hpo strategies


def _readme_strategy_names() -> list[str]:
    """The names in the README's strategy table (first column of "## Strategies")."""
    section = (ROOT / "README.md").read_text().split("\n## Strategies\n")[1].split("\n## ")[0]
    names: list[str] = []
    for line in section.splitlines():
        if line.startswith("| `"):
            names += re.findall(r"`([a-z0-9-]+)`", line.split("|")[1])
    return names


def test_strategies_lists_every_strategy_and_what_it_can_do(tmp_path: Path) -> None:
    done = run_cli("strategies", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    names = [row["name"] for row in listed]
    assert sorted(names) == sorted(_readme_strategy_names())
    features = ("int", "log", "categorical", "conditional", "multi_objective", "pruning")
    for row in listed:
        assert set(row) == {"name", *features, "workers", "notes"}
        assert all(isinstance(row[f], bool) for f in (*features, "workers"))
    table = run_cli("strategies", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:7] == ["strategy", *features]
    for row in listed:  # one line per strategy, its flags and notes as in the JSON
        (line,) = [ln for ln in lines if ln.split()[:1] == [row["name"]]]
        flags = ["yes" if row[f] else "-" for f in (*features, "workers")]
        assert line.split()[1:8] == flags
        assert row["notes"] in line

    # what the listing claims is what a run accepts: pruning and several objectives are
    # refused (exit 2, before anything runs) exactly where it says "-"
    from click.testing import CliRunner

    from hpo.cli.main import main

    claims = {
        "pruning": {"strategy.pruner": "median"},
        "multi_objective": {"objective": [{"metric": "f1"}, {"metric": "n_params"}]},
    }
    for row in listed:
        for feature, change in claims.items():
            config = tmp_path / f"{row['name']}-{feature}.yaml"
            config.write_text(
                yaml.safe_dump(tiny_experiment(**{"strategy.name": row["name"], **change}))
            )
            result = CliRunner().invoke(main, ["validate", str(config)])
            assert result.exit_code == (0 if row[feature] else 2), (row, feature, result.output)


# --------------------------------------------------------------------------- sweep a


def test_tracking_experiment_names_the_mlflow_experiment(sweeps: dict[str, Any]) -> None:
    folder: SweepDir = sweeps["dir"]
    client = folder.client()
    assert client.get_experiment_by_name("tiny") is None  # the config's `name`
    assert {s["experiment"] for s in sweeps["summaries"].values()} == {EXPERIMENT}
    for study in ("a", "b", "w"):
        sweep, trials = _study_runs(folder, study)
        assert sweep.info.run_id == sweeps["summaries"][study]["sweep_run_id"]
        assert trials


def test_sweep_run_counts_states_and_names_its_objective(sweeps: dict[str, Any]) -> None:
    folder: SweepDir = sweeps["dir"]
    for study, objective, direction in (("a", "f1", "maximize"), ("w", "n_params", "minimize")):
        sweep, trials = _study_runs(folder, study)
        assert sweep.data.tags["hpo.objective"] == objective
        assert sweep.data.tags["hpo.direction"] == direction
        states = [r.data.tags["hpo.state"] for r in trials.values()]
        counts = {k: v for k, v in sweep.data.metrics.items() if k.startswith("n_")}
        assert counts == {
            "n_complete": states.count("COMPLETE"),
            "n_pruned": states.count("PRUNED"),
            "n_fail": states.count("FAIL"),
        }
        summary = sweeps["summaries"][study]
        assert {f"n_{k.lower()}": v for k, v in summary["states"].items()} == counts
        (best_run,) = [r for r in trials.values() if r.info.run_id == summary["best"]["run_id"]]
        best = best_run.data.metrics[objective]
        values = [
            r.data.metrics[objective]
            for r in trials.values()
            if r.data.tags["hpo.state"] == "COMPLETE"
        ]
        assert best == (max(values) if direction == "maximize" else min(values))
        assert sweep.data.metrics[f"best_{objective}"] == pytest.approx(best)
    # counted again after the resume: 5 complete, then the queued still model pruned
    assert sweeps["summaries"]["a5"]["states"] == {"COMPLETE": 5, "PRUNED": 0, "FAIL": 0}
    assert sweeps["summaries"]["a"]["states"] == {"COMPLETE": 5, "PRUNED": 1, "FAIL": 0}
    _, trials = _study_runs(folder, "a")
    assert trials[5].data.params["learning_rate"] == "0.0"
    assert trials[5].data.tags["hpo.state"] == "PRUNED" and not _has_model(folder, trials[5])


def test_early_stopping_ends_a_trial_whose_val_loss_stops_improving(
    sweeps: dict[str, Any],
) -> None:
    folder: SweepDir = sweeps["dir"]
    _, trials = _study_runs(folder, "a")
    still = trials[0]
    assert still.data.params["learning_rate"] == "0.0"
    losses = _history(folder, still, "val_loss")
    assert len(losses) == 2 and losses[0] == losses[1]  # patience 1: one flat epoch ends it
    assert still.data.metrics["epochs"] == 2 and still.data.tags["hpo.state"] == "COMPLETE"
    # every trial trains until val_loss fails to improve once, else for all its epochs
    full = 0
    for run in trials.values():
        if run.data.tags["hpo.state"] != "COMPLETE":
            continue
        losses = _history(folder, run, "val_loss")
        flat = [i for i in range(1, len(losses)) if losses[i] >= min(losses[:i])]
        expected = flat[0] + 1 if flat else EPOCHS
        assert len(losses) == run.data.metrics["epochs"] == expected, losses
        full += expected == EPOCHS
    assert full >= 1, "no trial ran its full epochs: nothing contrasts with the stopped one"


def test_a_model_is_logged_only_when_a_trial_beats_the_best_so_far(
    sweeps: dict[str, Any],
) -> None:
    folder: SweepDir = sweeps["dir"]
    _, trials = _study_runs(folder, "a")  # one worker: trials finish in number order
    best: float | None = None
    improved = not_improved = 0
    for number in sorted(trials):
        run = trials[number]
        f1 = run.data.metrics.get("f1")
        beats = run.data.tags["hpo.state"] == "COMPLETE" and (best is None or f1 > best)
        logged = run.data.tags.get("hpo.model") == "logged"
        assert logged == beats == _has_model(folder, run), (number, f1, best)
        if beats:
            best, improved = f1, improved + 1
        elif run.data.tags["hpo.state"] == "COMPLETE":
            not_improved += 1
    assert improved >= 2 and not_improved >= 1, "the sweep did not exercise both cases"
    assert sweeps["summaries"]["a"]["best"]["metrics"]["f1"] == best


# --------------------------------------------------------------------------- sweep b


def test_log_models_false_logs_no_model(sweeps: dict[str, Any]) -> None:
    folder: SweepDir = sweeps["dir"]
    _, twin = _study_runs(folder, "b")
    _, logging = _study_runs(folder, "a")
    # the same trials logged models in study a, which only differs by log_models
    assert any(_has_model(folder, logging[n]) for n in twin)
    assert len(twin) == 5
    for run in twin.values():
        assert run.data.tags["hpo.state"] == "COMPLETE"
        assert "hpo.model" not in run.data.tags and not _has_model(folder, run)


def test_the_same_seed_gives_the_same_params_and_metrics(sweeps: dict[str, Any]) -> None:
    """README: `seed` fixes the split, the per-trial Keras seeds and the strategy."""
    folder: SweepDir = sweeps["dir"]
    sweep_a, first = _study_runs(folder, "a")
    sweep_b, second = _study_runs(folder, "b")
    assert sweep_a.data.tags["hpo.data_sha256"] == sweep_b.data.tags["hpo.data_sha256"]
    assert sorted(second) == list(range(5))
    ledger_a = {t.number: t.params for t in _ledger_trials(folder, "a")}
    ledger_b = {t.number: t.params for t in _ledger_trials(folder, "b")}
    for number, run in second.items():
        twin = first[number]
        assert run.data.params == twin.data.params
        assert ledger_b[number] == ledger_a[number]  # the exact floats, not their text
        for key in ("accuracy", "precision", "recall", "f1", "n_params", "epochs"):
            assert run.data.metrics[key] == pytest.approx(twin.data.metrics[key], rel=1e-6)
        for key in ("loss", "val_loss"):
            assert _history(folder, run, key) == pytest.approx(
                _history(folder, twin, key), rel=1e-6
            )
    assert len({r.data.params["learning_rate"] for r in second.values()}) == 5  # not constant


# --------------------------------------------------------------------------- sweep w


def test_workers_2_trains_in_two_processes_on_the_journal(sweeps: dict[str, Any]) -> None:
    folder: SweepDir = sweeps["dir"]
    assert sweeps["summaries"]["w"]["states"] == {"COMPLETE": 4, "PRUNED": 0, "FAIL": 0}
    _, trials = _study_runs(folder, "w")
    assert sorted(trials) == [0, 1, 2, 3]
    assert {r.data.tags["hpo.state"] for r in trials.values()} == {"COMPLETE"}
    assert len({r.data.tags["hpo.worker_pid"] for r in trials.values()}) == 2
    ledger = _ledger_trials(folder, "w")  # the default ledger: the journal file
    assert sorted(t.number for t in ledger) == [0, 1, 2, 3]
    assert {t.state.name for t in ledger} == {"COMPLETE"}
    assert {t.user_attrs["hpo.run_id"] for t in ledger} == {r.info.run_id for r in trials.values()}


# --------------------------------------------------------------------------- refused resumes


def _snapshot(folder: SweepDir) -> dict[str, Any]:
    """The ledger as Optuna reads it and the MLflow store byte for byte."""
    path = folder.path
    mlruns = sorted(
        (str(p.relative_to(path)), p.stat().st_size) for p in (path / "mlruns").rglob("*")
    )
    study = [
        (t.number, t.state.name, t.params, t.values, t.intermediate_values, t.user_attrs)
        for t in _ledger_trials(folder, "a")
    ]
    import optuna
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(path / "hpo-ledger.journal")))
    studies = {s.study_name: s.user_attrs for s in optuna.get_all_study_summaries(storage)}
    return {
        "mlflow.db": hashlib.sha256((path / "mlflow.db").read_bytes()).hexdigest(),
        "mlruns": mlruns,
        "studies": studies,
        "study a": study,
    }


@pytest.mark.parametrize(
    ("what", "change"),
    [
        ("search space", {"search_space.params.units": {"type": "int", "low": 8, "high": 40}}),
        ("data", {"data.max_samples": 270}),
        ("objective", {"objective": {"metric": "accuracy"}}),
    ],
)
def test_a_resume_with_another_space_data_or_objective_is_refused(
    sweeps: dict[str, Any], what: str, change: dict[str, Any]
) -> None:
    folder: SweepDir = sweeps["dir"]
    config = folder.path / "changed.yaml"
    config.write_text(yaml.safe_dump(_config(**change)))
    journal = folder.path / "hpo-ledger.journal"
    before, journal_before = _snapshot(folder), journal.read_bytes()
    done = run_cli("run", str(config), "--study", "a", "--trials", "8", cwd=folder.path)
    assert done.returncode == 2, done.stderr
    line = error_line(done)
    assert "'a'" in line and "--study" in line
    if what == "data":
        assert "data" in line
    assert done.stdout == ""
    assert _snapshot(folder) == before  # ledger and MLflow as they were
    assert journal.read_bytes().startswith(journal_before)  # nothing in it rewritten
