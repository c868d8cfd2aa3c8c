"""`hpo compare`: paired sweeps per strategy, nested under one comparison run, ranked."""

from __future__ import annotations

import json

import pytest
from mlflow import MlflowClient

from hpo.sweep.compare import StrategyRuns, _holm, significance
from tests.conftest import tiny_experiment


def test_holm_correction_is_step_down_and_monotone() -> None:
    adjusted = _holm({"a": 0.01, "b": 0.04, "c": 0.03})
    assert adjusted == pytest.approx({"a": 0.03, "c": 0.06, "b": 0.06})


def test_significance_needs_pairs_and_detects_a_clear_difference() -> None:
    good = StrategyRuns("good", 10, best=[0.9, 0.91, 0.92, 0.93, 0.94, 0.95])
    bad = StrategyRuns("bad", 10, best=[0.5, 0.52, 0.51, 0.53, 0.5, 0.49])
    mid = StrategyRuns("mid", 10, best=[0.7, 0.71, 0.69, 0.72, 0.7, 0.68])
    result = significance([good, bad, mid])
    assert result["friedman"]["p_value"] < 0.01
    assert set(result["wilcoxon_holm"]) == {"good vs bad", "good vs mid", "bad vs mid"}
    single = [StrategyRuns("a", 1, best=[0.5]), StrategyRuns("b", 1, best=[0.6])]
    assert significance(single)["note"] == "needs at least 2 repeats"
    assert StrategyRuns("x", 3, curves=[[0.1, 0.5, 0.9]]).trials_to_reach(0.5, True) == [2]
    spent = StrategyRuns("x", 3, curves=[[0.1, 0.5, 0.9]], cpu=[[2.0, 5.0, 9.0]])
    assert spent.cpu_to_reach(0.5, True) == [5.0] and spent.cpu_to_reach(1.0, True) == [None]


@pytest.mark.slow
def test_compare_runs_paired_sweeps_under_one_parent(cli, write_config, workdir):
    config = tiny_experiment()
    config["search_space"]["params"]["units"] = {
        "type": "int",
        "low": 8,
        "high": 16,
        "grid_points": 2,
    }
    config["search_space"]["params"]["learning_rate"]["grid_points"] = 1
    path = write_config(config)
    done = cli(
        "compare",
        str(path),
        "--strategies",
        "random,optuna-tpe,grid",
        "--trials",
        "2",
        "--repeats",
        "2",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    assert "budget is the grid size (2 trials)" in done.stderr
    report = json.loads(done.stdout)
    by_name = {r["strategy"]: r for r in report["strategies"]}
    assert set(by_name) == {"random", "optuna-tpe", "grid"}
    for row in by_name.values():
        assert row["repeats"] == 2 and len(row["best"]) == 2 and row["best_mean"] is not None
        assert len(row["curve_by_trial"]) == 2
        # CPU seconds of training until the target, beside trials and wall time
        if row["trials_to_target_median"] is not None:
            assert row["cpu_seconds_to_target_median"] > 0
    assert "friedman" in report["significance"]

    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    exp = client.get_experiment_by_name("tiny")
    runs = client.search_runs([exp.experiment_id], max_results=500)
    parent = next(r for r in runs if r.data.tags.get("hpo.kind") == "comparison")
    assert parent.info.run_id == report["comparison_run_id"]
    sweeps = [r for r in runs if r.data.tags.get("hpo.kind") == "sweep"]
    assert len(sweeps) == 6
    assert {s.data.tags["mlflow.parentRunId"] for s in sweeps} == {parent.info.run_id}
    # paired: every sweep saw the same data split
    assert len({s.data.tags["hpo.data_sha256"] for s in sweeps}) == 1
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"comparison.png", "comparison.json"} <= artifacts
    table = cli("compare", str(path), "--strategies", "random,nope", "--trials", "1")
    assert table.returncode == 2 and "unknown strategy 'nope'" in table.stderr
