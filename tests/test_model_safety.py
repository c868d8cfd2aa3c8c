"""Loading a model never runs its own code unless the user says `--trust-model`.

Hostile models (tests/hostile_models.py) write a marker file when their code runs. By default
predict, serve, export and promote refuse them (exit 2, one line naming what was refused,
marker not written, nothing changed); with `--trust-model` they are loaded (the marker
appears). A model that is what hpo logs itself loads as before.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import Result

from tests.conftest import ROOT, run_cli
from tests.hostile_models import KINDS, make_hostile
from tests.models_helpers import SweepDir, error_line, sweep_dir
from tests.serve_helpers import free_port, start_serve, wait_until_serving

pytestmark = pytest.mark.slow

# what the refusal line names for each hostile model
REASONS = {
    "loader": "names loader_module evil_loader (runs the model's own code)",
    "pickle": "names python_model python_model.pkl",
    "graph": "sets save_exported_model: true",
}
TRUST_HINT = "pass --trust-model if you trust who wrote it"
KERAS = "mlflow.keras"


@dataclass
class Lab:
    dir: SweepDir
    run_id: str
    pristine: Path
    folders: dict[str, Path]
    csv: Path

    def marker(self, kind: str) -> Path:
        return self.dir.path / f"MARKER_{kind}"

    def uris(self, kind: str) -> dict[str, str]:
        """The model as each command takes it: a local folder, the run's artifact, the
        registered version (promote always loads the best trial's runs:/RUN/model)."""
        return {
            "predict": str(self.folders[kind]),
            "serve": f"runs:/{self.run_id}/hostile_{kind}",
            "export": f"models:/hostile_{kind}/1",
        }


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    for folder in sweep_dir(tmp_path_factory, "safety"):
        run_id = folder.run_sweep("s", **{"budget.trials": 1})["best"]["run_id"]
        import mlflow.artifacts

        pristine = Path(
            mlflow.artifacts.download_artifacts(
                f"runs:/{run_id}/model",
                dst_path=str(folder.path / "pristine"),
                tracking_uri=folder.uri,
            )
        )
        client = folder.client()
        folders = {}
        for kind in KINDS:
            target = folder.path / f"hostile_{kind}"
            folders[kind] = make_hostile(kind, pristine, target, folder.path / f"MARKER_{kind}")
            client.log_artifacts(run_id, str(target), f"hostile_{kind}")
            client.create_registered_model(f"hostile_{kind}")
            client.create_model_version(
                f"hostile_{kind}", source=f"runs:/{run_id}/hostile_{kind}", run_id=run_id
            )
        csv = folder.path / "rows.csv"
        np.savetxt(csv, np.zeros((3, 64), dtype=np.float32), delimiter=",")
        yield Lab(folder, run_id, pristine, folders, csv)


@contextlib.contextmanager
def _trial_model_replaced(lab: Lab, kind: str) -> Iterator[None]:
    """The attack on `promote`: the best trial's logged model overwritten on the server."""
    client = lab.dir.client()
    client.log_artifacts(lab.run_id, str(lab.folders[kind]), "model")
    try:
        yield
    finally:
        client.log_artifacts(lab.run_id, str(lab.pristine), "model")


def _run(
    lab: Lab, command: str, kind: str, *flags: str
) -> Result | subprocess.CompletedProcess[str]:
    if command == "promote":
        with _trial_model_replaced(lab, kind):
            return lab.dir.invoke("promote", "tiny", "--model-name", f"p_{kind}", *flags)
    uri = lab.uris(kind)[command]
    if command == "predict":
        return lab.dir.invoke("predict", uri, str(lab.csv), *flags)
    if command == "serve":
        return _serve_refusal(lab, uri)
    out = str(lab.dir.path / f"export_{kind}.keras")
    return lab.dir.invoke("export", uri, "--format", "keras", "--output", out, *flags)


def _serve_refusal(lab: Lab, uri: str) -> subprocess.CompletedProcess[str]:
    """`hpo serve` in a fresh process group: should the refusal ever break, the server it
    starts is stopped and the test fails instead of serving forever."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "hpo.cli", "serve", uri),
            *("--port", str(free_port()), "--tracking-uri", lab.dir.uri),
        ],
        cwd=lab.dir.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = server.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.communicate()
        pytest.fail(f"hpo serve {uri} started a server instead of refusing")
    return subprocess.CompletedProcess(server.args, server.returncode, stdout, stderr)


def _exit_code(result: Result | subprocess.CompletedProcess[str]) -> int:
    return result.exit_code if isinstance(result, Result) else result.returncode


def _store(lab: Lab) -> tuple[object, ...]:
    client = lab.dir.client()
    return (lab.dir.registry_state(), client.get_run(lab.run_id).data.metrics)


def test_predict_refuses_a_folder_with_its_own_loader_module(lab: Lab) -> None:
    """The reported attack, as a user meets it: a fresh `hpo predict evilmodel x.csv`."""
    done = run_cli("predict", "hostile_loader", "rows.csv", cwd=lab.dir.path)
    assert done.returncode == 2, done.stderr
    line = error_line(done)
    assert line.startswith("hpo: error: refusing to load hostile_loader: its MLmodel ")
    assert REASONS["loader"] in line and "code path code" in line and TRUST_HINT in line
    assert done.stdout == "" and not lab.marker("loader").exists()


@pytest.mark.parametrize("command", ["predict", "serve", "export", "promote"])
@pytest.mark.parametrize("kind", ["loader", "pickle", "graph"])
def test_hostile_mlmodel_is_refused_by_default(lab: Lab, command: str, kind: str) -> None:
    before = _store(lab)
    result = _run(lab, command, kind)
    assert _exit_code(result) == 2, result.stderr
    line = error_line(result)
    assert "refusing to load" in line and REASONS[kind] in line and TRUST_HINT in line
    assert not lab.marker(kind).exists()
    assert _store(lab) == before  # nothing registered, no test metrics logged
    assert not (lab.dir.path / f"export_{kind}.keras").exists()


@pytest.mark.parametrize("command", ["predict", "export", "promote"])
def test_a_lambda_layer_is_refused_by_keras_safe_mode_even_when_trusted(
    lab: Lab, command: str
) -> None:
    """The MLmodel is clean; the .keras file holds Python bytecode: safe_mode refuses it."""
    before = _store(lab)
    for flags in ((), ("--trust-model",)):
        result = _run(lab, command, "lambda", *flags)
        assert _exit_code(result) == 2, result.stderr
        assert "Lambda" in error_line(result)
    assert not lab.marker("lambda").exists()
    assert _store(lab) == before


@pytest.mark.parametrize("kind", ["loader", "pickle", "graph"])
def test_trust_model_lets_predict_load_it(lab: Lab, kind: str) -> None:
    lab.marker(kind).unlink(missing_ok=True)
    result = _run(lab, "predict", kind, "--trust-model")
    assert _exit_code(result) == 0, result.stderr
    assert lab.marker(kind).read_text() == "ran"  # the model's own code ran, as asked
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("label,prob_0") and len(lines) == 4


def test_trust_model_lets_serve_load_it(lab: Lab) -> None:
    """The scoring server (a child process) runs the model's loader and answers."""
    marker = lab.marker("loader")
    marker.unlink(missing_ok=True)
    port = free_port()
    server = start_serve(lab.dir, lab.uris("loader")["serve"], port, "--trust-model")
    try:
        wait_until_serving(server, port)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps({"inputs": np.zeros((2, 64)).tolist()}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert np.asarray(json.loads(response.read())["predictions"]).shape == (2, 10)
        assert marker.read_text() == "ran"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def test_trust_model_lets_export_and_promote_load_the_keras_flavor(lab: Lab) -> None:
    """Export and promote need the Keras model itself: trusted, they load its Keras flavor
    (the python_function loader is never imported by them)."""
    lab.marker("loader").unlink(missing_ok=True)
    result = _run(lab, "export", "loader", "--trust-model")
    assert _exit_code(result) == 0, result.stderr
    assert (lab.dir.path / "export_loader.keras").is_file()
    result = _run(lab, "promote", "loader", "--trust-model")
    assert _exit_code(result) == 0, result.stderr
    assert "p_loader" in lab.dir.registry_state()
    assert not lab.marker("loader").exists()


def test_a_model_hpo_logged_loads_by_default(lab: Lab) -> None:
    uri = f"runs:/{lab.run_id}/model"
    result = lab.dir.invoke("predict", uri, str(lab.csv))
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 4
    out = str(lab.dir.path / "plain.keras")
    result = lab.dir.invoke("export", uri, "--format", "keras", "--output", out)
    assert result.exit_code == 0, result.output
    result = lab.dir.invoke("promote", "tiny", "--model-name", "plain", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["run_id"] == lab.run_id
    assert "plain" in lab.dir.registry_state()


def test_the_report_evaluates_a_hostile_best_model_only_when_trusted(lab: Lab) -> None:
    """`hpo report` evaluates the best model of sweeps logged before trials carried their
    confusion matrix: that load is checked too (a refusal becomes a note in the report)."""
    from hpo.reporting.best_trial import evaluate_best
    from hpo.tracking.model_safety import UntrustedModel

    with _trial_model_replaced(lab, "loader"):
        with pytest.raises(UntrustedModel, match="loader_module evil_loader"):
            evaluate_best(lab.dir.uri, lab.run_id)
        best = evaluate_best(lab.dir.uri, lab.run_id, trust_model=True)
    assert best.matrix.sum() > 0


@pytest.mark.parametrize("command", ["predict", "serve", "promote", "export", "report"])
def test_every_loading_command_documents_trust_model(command: str) -> None:
    from click.testing import CliRunner

    from hpo.cli.main import main

    help_text = " ".join(CliRunner().invoke(main, [command, "--help"]).output.split())
    assert "--trust-model" in help_text and "RUNS THE MODEL'S OWN CODE" in help_text


@pytest.mark.parametrize(
    ("flavors", "reason"),
    [
        ({"python_function": {"loader_module": KERAS}}, "has no keras flavor"),
        ({"keras": {}, "python_function": {}}, "names loader_module None"),
        ({"keras": {"code": "src"}}, "names code path src in keras"),
        ({"keras": {"data": "../../etc"}}, "names data path ../../etc outside"),
        ({"keras": {"data": "/abs"}}, "names data path /abs outside"),
        ({"keras": {}, "sklearn": {}}, "names flavor sklearn"),
        (
            {"keras": {}, "python_function": {"loader_module": KERAS, "model_code_path": "m.py"}},
            "names model_code_path m.py",
        ),
    ],
)
def test_what_the_mlmodel_check_refuses(flavors: dict[str, object], reason: str) -> None:
    from hpo.tracking.model_safety import refusals

    assert any(found.startswith(reason) for found in refusals({"flavors": flavors}))


def test_what_hpo_logs_passes_the_check(lab: Lab) -> None:
    import yaml

    from hpo.tracking.model_safety import refusals

    assert refusals(yaml.safe_load((lab.pristine / "MLmodel").read_text())) == []
