"""`hpo promote --min-test-f1`: a refused promotion leaves the MLflow store exactly as it was.

The gate is decided before the first write, so a model that fails it leaves no test metrics
on its run (they could otherwise steer a later selection), no model card, no version, no
alias. The same promotion without the gate does write all of these: the snapshot sees writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.models_helpers import SweepDir, error_line, sweep_dir

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SweepDir]:
    for sweep in sweep_dir(tmp_path_factory, "gate"):
        sweep.run_sweep("g", **{"budget.trials": 1})
        yield sweep


def _artifacts(client: Any, run_id: str, path: str | None = None) -> list[str]:
    found: list[str] = []
    for item in client.list_artifacts(run_id, path):
        found += _artifacts(client, run_id, item.path) if item.is_dir else [item.path]
    return found


def store_snapshot(folder: SweepDir) -> dict[str, Any]:
    """Everything promote could write: runs (status, metrics with their history, params,
    tags, artifacts), registered models, versions (tags, description) and aliases, and the
    files under the artifact root."""
    client = folder.client()
    runs = {}
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id]):
            run_id = run.info.run_id
            runs[run_id] = {
                "status": run.info.status,
                "end_time": run.info.end_time,
                "params": run.data.params,
                "tags": run.data.tags,
                "metrics": {
                    key: [
                        (m.value, m.step, m.timestamp)
                        for m in client.get_metric_history(run_id, key)
                    ]
                    for key in run.data.metrics
                },
                "artifacts": _artifacts(client, run_id),
            }
    models = {}
    for model in client.search_registered_models():
        versions = client.search_model_versions(f"name='{model.name}'")
        models[model.name] = {
            "aliases": dict(model.aliases),
            "versions": sorted((v.version, v.run_id, v.description, str(v.tags)) for v in versions),
        }
    files = sorted(str(p.relative_to(folder.path)) for p in (folder.path / "mlruns").rglob("*"))
    return {"runs": runs, "models": models, "files": files}


def test_a_refused_promotion_writes_nothing(folder: SweepDir) -> None:
    before = store_snapshot(folder)
    done = folder.cli("promote", "tiny", "--model-name", "gated", "--min-test-f1", "0.99")
    assert done.returncode == 1, done.stderr
    line = error_line(done)
    assert "--min-test-f1 0.99" in line and "nothing registered" in line
    assert store_snapshot(folder) == before


def test_the_same_promotion_without_the_gate_writes(folder: SweepDir) -> None:
    """The snapshot is not blind: a promotion that passes changes every part it compares."""
    before = store_snapshot(folder)
    result = folder.invoke("promote", "tiny", "--model-name", "gated")
    assert result.exit_code == 0, result.output
    after = store_snapshot(folder)
    (run_id,) = [r for r in after["runs"] if "test_f1" in after["runs"][r]["metrics"]]
    assert "test_f1" not in before["runs"][run_id]["metrics"]
    assert "model_card/model_card.md" in after["runs"][run_id]["artifacts"]
    assert (
        after["models"]["gated"]["aliases"] == {"champion": 1} and "gated" not in before["models"]
    )
    assert len(after["files"]) > len(before["files"])
