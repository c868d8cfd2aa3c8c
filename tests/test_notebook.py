"""examples/quickstart.ipynb runs top to bottom in a real Jupyter kernel (nbclient +
ipykernel): a cell error fails the test. Its sweeps are tiny (2 trials, 1 epoch)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import ROOT, require_modules

NOTEBOOK = ROOT / "examples" / "quickstart.ipynb"

require_modules("nbclient", "nbformat", "ipykernel", install="pip install -e '.[dev]'")


@pytest.mark.slow
def test_quickstart_notebook_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.chdir(tmp_path)  # mlflow.db, mlruns/, the ledger and report/ land here
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("HPO_ROOT", str(ROOT))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell

    outputs = [cell.get("outputs", []) for cell in notebook.cells if cell.cell_type == "code"]
    shown = [out for cell in outputs for out in cell if out.get("output_type") == "execute_result"]
    assert any("text/html" in out["data"] and "run_id" in out["data"]["text/html"] for out in shown)
    assert any("image/png" in out["data"] for out in shown)  # the history picture, inline
    last = shown[-1]["data"]["text/plain"]
    assert last.startswith("array(["), last  # the champion's predicted classes
    assert (tmp_path / "report" / "history_trials.png").is_file()
