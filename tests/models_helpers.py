"""Shared by test_promote / test_export / test_serve: one real sweep per module, reused.

The sweep runs through the real CLI (a fresh process, like a user); the commands under test
run in-process with click's CliRunner where that is enough, so TensorFlow loads once per
module instead of once per call (the whole set stays within a few minutes on 2 cores).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner, Result

from tests.conftest import run_cli, tiny_experiment


@dataclass
class SweepDir:
    """A scratch project folder holding mlflow.db, mlruns/ and the ledger of real sweeps."""

    path: Path

    @property
    def uri(self) -> str:
        return f"sqlite:///{self.path / 'mlflow.db'}"

    def run_sweep(self, study: str, config_name: str = "exp.yaml", **changes: Any) -> dict:
        config = self.path / config_name
        config.write_text(yaml.safe_dump(tiny_experiment(**changes)))
        done = run_cli("run", str(config), "--study", study, "--json", "--quiet", cwd=self.path)
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """The real `hpo` in a fresh process (the wiring, and stdout holding one JSON)."""
        return run_cli(*args, "--tracking-uri", self.uri, cwd=self.path, timeout=timeout)

    def invoke(self, *args: str) -> Result:
        """The same command in-process (TensorFlow stays loaded between calls)."""
        from hpo.cli.main import main

        return CliRunner().invoke(main, [*args, "--tracking-uri", self.uri])

    def client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    def registry_state(self) -> dict[str, Any]:
        """Every registered model, its aliases and versions: compared before / after."""
        client = self.client()
        state: dict[str, Any] = {}
        for model in client.search_registered_models():
            versions = client.search_model_versions(f"name='{model.name}'")
            state[model.name] = {
                "aliases": dict(model.aliases),
                "versions": sorted((v.version, v.run_id) for v in versions),
            }
        return state


def sweep_dir(tmp_path_factory: Any, name: str) -> Iterator[SweepDir]:
    """A module's scratch folder, set as MLflow's process-wide URI as a user loading models
    with `mlflow.pyfunc.load_model("models:/...")` would (hpo itself never changes it); reset
    afterwards so later test modules see the default again."""
    import mlflow

    path = tmp_path_factory.mktemp(name)
    saved = os.environ.pop("MLFLOW_TRACKING_URI", None)
    folder = SweepDir(path)
    mlflow.set_tracking_uri(folder.uri)
    mlflow.set_registry_uri(folder.uri)
    try:
        yield folder
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        os.environ.pop("MLFLOW_REGISTRY_URI", None)
        if saved is not None:
            os.environ["MLFLOW_TRACKING_URI"] = saved


def error_line(result: Result | subprocess.CompletedProcess[str]) -> str:
    """The one `hpo: error:` line a failed command must print (and nothing like a trace)."""
    stderr = result.stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith("hpo: error:")]
    assert len(lines) == 1, stderr
    return lines[0]
