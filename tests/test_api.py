"""The Python API (`import hpo`): every public function against a real MLflow SQLite store
and journal ledger, in-memory data, a builder closure trained in the worker processes, an
interrupted sweep resumed, and the CLI's JSON and messages for the same sweep and input.

One interrupted-then-resumed sweep (a DataFrame, a closure builder) and one YAML sweep are
shared by the module; everything else reads them or fails before training.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

import hpo
from tests.conftest import ROOT, modules_loaded_by, run_cli, tiny_experiment

SPACE = {
    "params": {
        "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
        "units": {"type": "int", "low": 8, "high": 16},
        "batch_size": 64,
    }
}


def digits_frame(rows: int = 300) -> pd.DataFrame:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    frame = pd.DataFrame(x[:rows], columns=[f"p{i}" for i in range(x.shape[1])])
    frame["label"] = y[:rows]
    return frame


def partial_config(name: str) -> dict[str, Any]:
    """No data source, no model: `data=` and `builder=` give them."""
    return {
        "name": name,
        "seed": 1,
        "data": {"validation_size": 0.25},
        "search_space": SPACE,
        "strategy": {"name": "random"},
        "budget": {"trials": 2, "epochs": 1},
        "tracking": {"report": False},
    }


def closure_builder(marker: Path) -> Any:
    """A builder defined in a function's scope (a closure over `marker`). Its first call
    interrupts the sweep as a notebook's stop button does (SIGINT to the orchestrator) and
    keeps training; every later call builds a small MLP."""

    def build(params: dict[str, Any], input_shape: tuple[int, ...], n_classes: int) -> Any:
        import keras

        if not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getppid(), signal.SIGINT)
            time.sleep(60)
        model = keras.Sequential(
            [
                keras.Input(shape=input_shape),
                keras.layers.Dense(int(params["units"]), activation="relu"),
                keras.layers.Dense(n_classes, activation="softmax"),
            ]
        )
        model.compile(
            optimizer=keras.optimizers.Adam(float(params["learning_rate"])),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model

    return build


DOCS = ROOT / "docs" / "API.md"


def doc_examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.S)


@dataclass
class Sweeps:
    folder: Path
    uri: str
    storage: str
    docs: dict[str, Any]  # the namespace docs/API.md's examples ran in
    frame: pd.DataFrame
    config: dict[str, Any]
    marker: Path
    interrupted: KeyboardInterrupt
    summary: Any  # the interrupted, then resumed in-memory sweep


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sweeps]:
    """docs/API.md's examples in order (every function, its default store: mlflow.db and
    hpo-ledger.journal in the working directory), then a DataFrame sweep with a closure
    builder that interrupts itself, resumed."""
    folder = tmp_path_factory.mktemp("api")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    storage = str(folder / "hpo-ledger.journal")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.delenv("HPO_STORAGE", raising=False)
        docs: dict[str, Any] = {"__name__": "__main__"}
        for number, block in enumerate(doc_examples(), 1):
            try:
                exec(compile(block, f"docs/API.md example {number}", "exec"), docs)
            except Exception as err:
                raise AssertionError(f"docs/API.md example {number} failed: {err!r}") from err

        frame = digits_frame()
        config = partial_config("api-frame")
        marker = folder / "interrupted.marker"
        common: dict[str, Any] = dict(
            data=frame,
            target="label",
            builder=closure_builder(marker),
            study="frame-study",
            tracking_uri=uri,
            storage=storage,
            progress=False,
        )
        with pytest.raises(KeyboardInterrupt) as interrupted:
            hpo.run(config, **common)
        assert marker.exists(), "the closure ran in a training process"
        summary = hpo.run(config, **common)
        yield Sweeps(folder, uri, storage, docs, frame, config, marker, interrupted.value, summary)


# ---------------------------------------------------------------- no training


def test_import_hpo_loads_no_tensorflow_mlflow_or_optuna() -> None:
    heavy = ("tensorflow", "keras", "mlflow", "optuna", "sklearn", "pandas")
    statement = "import hpo; hpo.run; hpo.trials; hpo.Experiment; hpo.UserInputError; hpo.Best"
    assert modules_loaded_by(statement, heavy) == []


def test_public_names_are_the_contract() -> None:
    for name in ("load_experiment", "run", "trials", "best", "load_model", "promote"):
        assert callable(getattr(hpo, name)) and getattr(hpo, name).__doc__
    for name in ("export", "compare", "report"):
        assert "Returns:" in getattr(hpo, name).__doc__
    assert issubclass(hpo.UserInputError, hpo.HpoError)
    assert (ROOT / "hpo" / "py.typed").is_file()
    with pytest.raises(AttributeError):
        hpo.no_such_name  # noqa: B018


def test_experiment_from_dict_and_with_overrides_validate() -> None:
    exp = hpo.Experiment.from_dict(tiny_experiment())
    changed = exp.with_overrides(**{"budget.trials": 5})
    assert (exp.budget.trials, changed.budget.trials) == (2, 5)
    with pytest.raises(hpo.UserInputError, match=r"budget.trials: .*greater than or equal to 1"):
        exp.with_overrides(**{"budget.trials": 0})
    partial = hpo.Experiment.from_dict(partial_config("p"))
    assert partial.data.source == "memory" and partial.data.validation_size == 0.25
    with pytest.raises(hpo.UserInputError, match="search_space: Field required"):
        hpo.Experiment.from_dict({"name": "x"})


def test_load_experiment_reads_the_yaml(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump(tiny_experiment()))
    assert hpo.load_experiment(path) == hpo.Experiment.from_dict(tiny_experiment())


def test_what_is_missing_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(hpo.UserInputError, match=r"data\.source: no data: .*data=") as err:
        hpo.run(partial_config("nodata"), builder=closure_builder(tmp_path / "m"))
    assert not isinstance(err.value, SystemExit)
    with pytest.raises(hpo.UserInputError, match=r"model\.builder: no model builder"):
        hpo.run(partial_config("nobuilder"), data=digits_frame(), target="label")
    with pytest.raises(hpo.UserInputError, match="builder= must be a function"):
        hpo.run(partial_config("x"), data=digits_frame(), target="label", builder=3)
    with pytest.raises(hpo.UserInputError, match="no target column 'nope'"):
        hpo.run(partial_config("x"), data=digits_frame(), target="nope", builder=print)
    with pytest.raises(hpo.UserInputError, match=r"expected an hpo\.Experiment"):
        hpo.run(42)  # type: ignore[arg-type]


def test_bad_input_raises_the_cli_message(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(tiny_experiment(**{"budget.epochs": 0})))
    with pytest.raises(hpo.UserInputError) as err:
        hpo.run(path)
    done = run_cli("run", str(path), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == f"hpo: error: {err.value}"
    assert "budget.epochs" in str(err.value)


def _fingerprint(experiment: Any) -> str:
    from hpo.data.dataset import load_dataset

    return load_dataset(experiment.data, experiment.seed).fingerprint


def test_in_memory_data_fingerprint_equals_the_csv_and_is_stable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hpo.api.experiments import with_data

    monkeypatch.chdir(tmp_path)
    frame = digits_frame(200)
    frame.to_csv(tmp_path / "digits.csv", index=False)
    csv = hpo.Experiment.from_dict(
        {
            **tiny_experiment(),
            "data": {"source": "csv", "path": str(tmp_path / "digits.csv"), "target": "label"},
        }
    )
    base = hpo.Experiment.from_dict({**tiny_experiment(), "data": {}})
    from_frame = with_data(base, frame, "label")
    x, y = frame.drop(columns="label").to_numpy(), frame["label"].to_numpy()
    from_arrays = with_data(base, (x, y), None)
    assert _fingerprint(csv) == _fingerprint(from_frame) == _fingerprint(from_arrays)
    assert from_frame.data.path == from_arrays.data.path  # one content-addressed snapshot

    config = json.dumps({**tiny_experiment(), "data": {}})
    code = (
        "import json, pandas as pd, hpo\n"
        "from hpo.api.experiments import with_data\n"
        "from hpo.data.dataset import load_dataset\n"
        f"frame = pd.read_csv({str(tmp_path / 'digits.csv')!r})\n"
        f"base = hpo.Experiment.from_dict(json.loads({config!r}))\n"
        "exp = with_data(base, frame, 'label')\n"
        "print(load_dataset(exp.data, exp.seed).fingerprint)\n"
    )
    other = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() == _fingerprint(from_frame)


# ---------------------------------------------------------------- the shared sweeps


@pytest.mark.slow
def test_keyboard_interrupt_ends_the_sweep_killed_and_it_resumes(sweeps: Sweeps) -> None:
    import optuna

    from hpo.tracking.reads import mlflow_client

    assert "resume with --study frame-study" in str(sweeps.interrupted)
    assert sweeps.summary.states == {"COMPLETE": 2, "PRUNED": 0, "FAIL": 1}
    study = optuna.load_study(
        study_name="frame-study",
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(sweeps.storage)
        ),
    )
    states = [t.state.name for t in study.trials]
    assert "RUNNING" not in states and states.count("FAIL") == 1
    client = mlflow_client(sweeps.uri)
    runs = client.search_runs(
        [client.get_experiment_by_name("api-frame").experiment_id], max_results=50
    )
    assert {r.info.status for r in runs} <= {"FINISHED", "KILLED"}
    killed = [r for r in runs if r.info.status == "KILLED"]
    assert len(killed) == 1  # the interrupted trial; the sweep run finished on resume
    assert killed[0].data.tags["hpo.kind"] == "trial"


@pytest.mark.slow
def test_summary_has_the_contract(sweeps: Sweeps) -> None:
    summary = sweeps.summary
    assert summary.study == "frame-study" and summary.n_trials == 3
    assert summary.pareto == []
    best = summary.best
    assert isinstance(best, hpo.Best) and best.run_id and best.trial in (1, 2)
    assert isinstance(best.params["units"], int) and 0 <= best.metrics["f1"] <= 1
    payload = summary.to_json()
    assert payload["sweep_run_id"] == summary.sweep_run_id and payload["n_trials"] == 3


@pytest.mark.slow
def test_builder_function_is_logged_on_the_sweep_run(sweeps: Sweeps) -> None:
    from hpo.tracking.reads import mlflow_client

    client = mlflow_client(sweeps.uri)
    run = client.get_run(sweeps.summary.sweep_run_id)
    assert run.data.tags["hpo.builder_function"] == "closure_builder.<locals>.build"
    assert run.data.tags["hpo.model_builder"].startswith("function:closure_builder.")
    source = Path(client.download_artifacts(run.info.run_id, "builder.py", str(sweeps.folder)))
    assert "def build(params" in source.read_text()


@pytest.mark.slow
def test_trials_is_a_dataframe_best_first(sweeps: Sweeps) -> None:
    table = hpo.trials("api-frame", tracking_uri=sweeps.uri)
    assert list(table.columns[:3]) == ["trial", "run_id", "state"]
    assert {"units", "learning_rate", "f1", "accuracy"} <= set(table.columns)
    assert list(table["state"]) == ["COMPLETE", "COMPLETE", "FAIL"]
    assert table["f1"].iloc[0] >= table["f1"].iloc[1]
    assert table["units"].dtype.kind == "i"
    assert table["trial"].iloc[0] == hpo.best("api-frame", tracking_uri=sweeps.uri).trial


@pytest.mark.slow
def test_resuming_with_another_function_is_refused(sweeps: Sweeps) -> None:
    other = closure_builder(sweeps.marker)

    def different(params: dict[str, Any], input_shape: tuple[int, ...], n_classes: int) -> Any:
        return other(params, input_shape, n_classes)

    with pytest.raises(hpo.UserInputError, match="was run with a different search space"):
        hpo.run(
            sweeps.config,
            data=sweeps.frame,
            target="label",
            builder=different,
            study="frame-study",
            tracking_uri=sweeps.uri,
            storage=sweeps.storage,
            progress=False,
        )


@pytest.mark.slow
def test_cli_and_api_print_the_same_json(sweeps: Sweeps) -> None:
    """`hpo run --json` resuming the docs' finished study prints what `to_json()` gave."""
    config = sweeps.folder / "docs.yaml"
    config.write_text(sweeps.docs["exp"].to_yaml())
    done = run_cli(
        "run", str(config), "--study", "docs-study", "--tracking-uri", sweeps.uri,
        "--storage", sweeps.storage, "--json", cwd=sweeps.folder,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == sweeps.docs["summary"].to_json()


@pytest.mark.slow
def test_the_docs_examples_ran(sweeps: Sweeps) -> None:
    code = "\n".join(doc_examples())
    for name in ("run", "trials", "best", "load_model", "promote", "export", "compare", "report"):
        assert f"hpo.{name}(" in code, name
    assert (sweeps.folder / "docs.keras").is_file()
    assert (sweeps.folder / "docs-report" / "report.html").is_file()
    assert sweeps.docs["ranking"]["comparison_run_id"]
    assert sweeps.docs["wine_summary"].states["COMPLETE"] == 2  # DataFrame + builder=


@pytest.mark.slow
def test_promote_and_load_model_of_an_in_memory_sweep(sweeps: Sweeps) -> None:
    """Promotion rebuilds the test rows of a DataFrame sweep (its npz snapshot); the
    notebook's own MLflow URIs stay where the user set them."""
    import mlflow

    users_own = f"sqlite:///{sweeps.folder / 'notebook-runs.db'}"
    mlflow.set_tracking_uri(users_own)
    try:
        promoted = hpo.promote("api-frame", model_name="frame", tracking_uri=sweeps.uri)
        assert promoted["model_uri"] == "models:/frame@champion" and promoted["moved"]
        assert 0 <= promoted["test_metrics"]["test_f1"] <= 1

        model = hpo.load_model("models:/frame@champion", tracking_uri=sweeps.uri)
        rows = sweeps.frame.drop(columns="label").to_numpy(np.float32)[:5]
        assert model.predict(rows, verbose=0).shape == (5, 10)
        best = hpo.load_model("api-frame", tracking_uri=sweeps.uri)
        assert best.count_params() == model.count_params()
        assert mlflow.get_tracking_uri() == users_own
        assert mlflow.get_registry_uri() == users_own
    finally:
        mlflow.set_tracking_uri(None)


@pytest.mark.slow
def test_gate_failure_raises_not_exits(sweeps: Sweeps) -> None:
    with pytest.raises(hpo.GateFailed, match="nothing registered"):
        hpo.promote("api-frame", model_name="gated", min_test_f1=1.0, tracking_uri=sweeps.uri)
