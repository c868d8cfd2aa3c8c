"""`hpo promote`: best trial -> tested -> registered with lineage -> alias, and its refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from hpo.config.selection import Where, parse_where, select_trial
from hpo.tracking.reads import TrialRecord
from tests.models_helpers import SweepDir, error_line, sweep_dir

pytestmark = pytest.mark.slow

GOOD = {
    "budget.trials": 3,
    "budget.epochs": 4,
    "search_space.params.learning_rate": {"type": "float", "low": 5e-3, "high": 2e-2},
}
# the same experiment, a learning rate too small to learn anything: a worse model
BAD = {"budget.trials": 1, "search_space.params.learning_rate": 1e-6}


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    for folder in sweep_dir(tmp_path_factory, "promote"):
        good = folder.run_sweep("good", **GOOD)
        bad = folder.run_sweep("bad", config_name="bad.yaml", **BAD)
        # an experiment whose only sweep finished no trial
        client = folder.client()
        exp_id = client.create_experiment("empty")
        client.create_run(exp_id, tags={"hpo.kind": "sweep", "hpo.study": "nothing"})
        yield {"dir": folder, "good": good, "bad": bad}


def _promote(folder: SweepDir, *args: str) -> tuple[int, dict[str, Any] | None, str]:
    result = folder.invoke("promote", *args, "--json")
    payload = json.loads(result.stdout) if result.exit_code == 0 else None
    return result.exit_code, payload, result.stderr


def test_gate_exits_1_and_registers_nothing(sweeps: dict[str, Any]) -> None:
    folder: SweepDir = sweeps["dir"]
    before = folder.registry_state()
    result = folder.invoke(
        "promote", "tiny", "--study", "bad", "--model-name", "gated", "--min-test-f1", "0.99"
    )
    assert result.exit_code == 1, result.output
    assert "--min-test-f1" in error_line(result) and "nothing registered" in result.stderr
    assert folder.registry_state() == before
    # the gate is decided before any write: not even the test metrics are logged
    run = folder.client().get_run(sweeps["bad"]["best"]["run_id"])
    assert "test_f1" not in run.data.metrics


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "--model-name", "m"], "no experiment named 'nope'"),
        (["tiny", "--study", "nope", "--model-name", "m"], "no study 'nope'"),
        (["empty", "--model-name", "m"], "no completed trial"),
        (["tiny", "--model-name", "m", "--where", "f1>=2"], "no completed trial meets f1>=2"),
        (["tiny", "--model-name", "m", "--where", "speed>=2"], "no metric or parameter 'speed'"),
        (["tiny", "--model-name", "m", "--where", "f1 about 2"], "cannot read"),
        (["tiny", "--model-name", "m", "--metric", "auc"], "no trial has metric 'auc'"),
        (["tiny", "--model-name", "a/b"], "invalid model name"),
        (["tiny", "--model-name", "m", "--alias", "v3"], "invalid alias"),
    ],
)
def test_bad_input_exits_2_and_leaves_the_registry_unchanged(
    sweeps: dict[str, Any], args: list[str], message: str
) -> None:
    folder: SweepDir = sweeps["dir"]
    before = folder.registry_state()
    result = folder.invoke("promote", *args)
    assert result.exit_code == 2, result.output
    assert message in error_line(result)
    assert folder.registry_state() == before


def test_promote_registers_with_lineage_and_the_alias_loads(sweeps: dict[str, Any]) -> None:
    folder: SweepDir = sweeps["dir"]
    good = sweeps["good"]
    done = folder.cli("promote", "tiny", "--study", "good", "--model-name", "digits", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)  # exactly one JSON object on stdout
    assert set(out) == {
        "model_name",
        "version",
        "alias",
        "model_uri",
        "run_id",
        "test_metrics",
        "moved",
        "refit",  # "reevaluation" only with --reevaluate (tests/test_reevaluate.py)
    }
    assert out["refit"] is False
    assert out["model_uri"] == "models:/digits@champion" and out["moved"] is True
    assert out["run_id"] == good["best"]["run_id"]  # the sweep's best trial
    assert set(out["test_metrics"]) == {"test_accuracy", "test_precision", "test_recall", "test_f1"}

    client = folder.client()
    run = client.get_run(out["run_id"])
    for key, value in out["test_metrics"].items():
        assert run.data.metrics[key] == pytest.approx(value)
    card = [a.path for a in client.list_artifacts(out["run_id"], "model_card")]
    assert card == ["model_card/confusion_matrix.png", "model_card/model_card.md"]

    version = client.get_model_version_by_alias("digits", "champion")
    assert str(version.version) == out["version"] == "1"
    tags = version.tags
    assert tags["hpo.experiment"] == "tiny" and tags["hpo.study"] == "good"
    assert tags["hpo.sweep_run_id"] == good["sweep_run_id"]
    assert tags["hpo.trial_run_id"] == out["run_id"]
    assert tags["hpo.strategy"] == "random"
    assert len(tags["hpo.config_sha256"]) == 64 and len(tags["hpo.data_sha256"]) == 64
    assert "tensorflow" in json.loads(tags["hpo.library_versions"])
    assert tags["hpo.model_card"].endswith("model_card/model_card.md")
    assert "## Metrics" in version.description and "test" in version.description

    import mlflow.pyfunc
    import yaml

    from hpo.config.experiment import Experiment
    from hpo.data.dataset import load_dataset

    config = Experiment.model_validate(yaml.safe_load((folder.path / "exp.yaml").read_text()))
    data = load_dataset(config.data, config.seed)
    model = mlflow.pyfunc.load_model(out["model_uri"])
    probs = np.asarray(model.predict(data.x_test[:7]))
    assert probs.shape == (7, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)


def test_promoting_the_same_run_again_creates_no_version(sweeps: dict[str, Any]) -> None:
    folder: SweepDir = sweeps["dir"]
    code, out, err = _promote(folder, "tiny", "--study", "good", "--model-name", "digits")
    assert code == 0, err
    assert out is not None and out["version"] == "1" and out["moved"] is False
    assert len(folder.client().search_model_versions("name='digits'")) == 1


def test_a_worse_sweep_does_not_move_the_alias_unless_forced(sweeps: dict[str, Any]) -> None:
    folder: SweepDir = sweeps["dir"]
    client = folder.client()
    champion = client.get_model_version_by_alias("digits", "champion")
    code, out, err = _promote(folder, "tiny", "--study", "bad", "--model-name", "digits")
    assert code == 0, err
    assert out is not None and out["version"] == "2" and out["moved"] is False
    assert out["test_metrics"]["test_f1"] < client.get_run(champion.run_id).data.metrics["test_f1"]
    assert str(client.get_model_version_by_alias("digits", "champion").version) == str(
        champion.version
    )

    code, out, err = _promote(folder, "tiny", "--study", "bad", "--model-name", "digits", "--force")
    assert code == 0, err
    assert out is not None and out["version"] == "2" and out["moved"] is True
    assert str(client.get_model_version_by_alias("digits", "champion").version) == "2"
    # a better one moves it back without --force
    code, out, err = _promote(folder, "tiny", "--study", "good", "--model-name", "digits")
    assert out is not None and out["version"] == "1" and out["moved"] is True, err
    assert len(client.search_model_versions("name='digits'")) == 2


def test_where_constraints_pick_among_the_trials_that_meet_them(sweeps: dict[str, Any]) -> None:
    folder: SweepDir = sweeps["dir"]
    from hpo.tracking.sweeps import open_sweep

    records = open_sweep("tiny", "good", folder.uri).records
    best = max((r for r in records if r.has_model), key=lambda r: r.metrics["f1"])
    limit = best.metrics["f1"] - 1e-9
    below = [r for r in records if r.has_model and r.metrics["f1"] <= limit]
    code, out, err = _promote(
        folder, "tiny", "--study", "good", "--model-name", "constrained", "--where", f"f1<={limit}"
    )
    if below:  # the best model-bearing trial under the limit
        expected = max(below, key=lambda r: (r.metrics["f1"], -r.trial))
        assert code == 0, err
        assert out is not None and out["run_id"] == expected.run_id
    else:  # only the best trial has a model: nothing to promote, nothing registered
        assert code == 2 and "no trial meeting the constraints has a logged model" in err
        assert "constrained" not in folder.registry_state()


def _record(trial: int, f1: float, precision: float, model: bool = True) -> TrialRecord:
    return TrialRecord(
        trial=trial,
        run_id=f"r{trial}",
        state="COMPLETE",
        params={"units": str(8 * (trial + 1))},
        metrics={"f1": f1, "precision": precision, "fit_seconds": 1.0 + trial},
        has_model=model,
    )


def test_selection_rule_constraints_and_ties() -> None:
    records = [
        _record(0, 0.80, 0.95),
        _record(1, 0.90, 0.85),
        _record(2, 0.90, 0.99),
        _record(3, 0.95, 0.99, model=False),
    ]
    pick = select_trial(records, "f1", "maximize", [], "f1", "maximize")
    assert pick.trial == 1  # trial 3 is better but has no model; 1 and 2 tie: earlier wins
    where = parse_where(["precision>=0.9"], records)
    assert where == [Where("precision", ">=", 0.9)]
    assert select_trial(records, "f1", "maximize", where, "f1", "maximize").trial == 2
    both = parse_where(["precision>=0.9,units<=8"], records)
    assert select_trial(records, "f1", "maximize", both, "f1", "maximize").trial == 0
    # a cost metric: the cheapest wins; ties on the metric go to the better objective
    assert select_trial(records, "fit_seconds", "minimize", [], "f1", "maximize").trial == 0
    tied = [_record(0, 0.5, 0.5), _record(1, 0.7, 0.5)]
    assert select_trial(tied, "precision", "maximize", [], "f1", "maximize").trial == 1
