"""The sweep run keeps every config it ran under: a resume never overwrites `config.yaml`."""

from __future__ import annotations

from pathlib import Path

import yaml
from mlflow import MlflowClient

from hpo.config.experiment import load_experiment


def test_a_resume_with_another_config_adds_config_2_and_the_same_config_adds_nothing(
    write_config, workdir, cli
):
    path = write_config(**{"budget.trials": 1})
    assert cli("run", str(path), "--study", "c").returncode == 0
    # a budget field, not how trials train: the study resumes (nothing left to train)
    for _ in range(2):  # the second time with the same config: nothing new
        done = cli("run", str(path), "--study", "c", "--timeout", "600")
        assert done.returncode == 0, done.stderr

    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tiny")
    (sweep,) = client.search_runs(
        [experiment.experiment_id], filter_string="tags.`hpo.kind` = 'sweep'"
    )
    run_id, tags = sweep.info.run_id, sweep.data.tags
    first = load_experiment(path)
    second = first.with_overrides(**{"budget.timeout_s": 600})
    assert tags["hpo.config_sha256"] == first.sha256()  # still the first config's
    assert tags["hpo.config_sha256_2"] == second.sha256()
    assert "hpo.config_sha256_3" not in tags
    files = {a.path for a in client.list_artifacts(run_id)}
    assert {"config.yaml", "config-2.yaml"} <= files and "config-3.yaml" not in files

    def kept(name: str) -> dict:
        return yaml.safe_load(
            Path(client.download_artifacts(run_id, name, str(workdir))).read_text()
        )

    assert kept("config.yaml")["budget"]["timeout_s"] is None
    assert kept("config-2.yaml")["budget"]["timeout_s"] == 600
