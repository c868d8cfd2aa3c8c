"""Sweep reports: the warning rules, the pictures, and the report on a real finished sweep."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from hpo.config.space import Param
from hpo.reporting import history, html, plots
from hpo.reporting.rules import (
    Range,
    edge_of_range,
    last_improvement,
    mostly_failed,
    stalled,
)

PNGS = {
    "history_trials.png",
    "history_time.png",
    "parallel_coordinates.png",
    "param_importance.png",
    "slices.png",
    "contour.png",
    "confusion_matrix.png",
    "per_class_metrics.png",
    "roc_curve.png",  # these three from the best model's stored validation predictions
    "pr_curve.png",
    "reliability.png",
}
EVERY_FILE = {*PNGS, "report.html", "report.json"}

# ---------------------------------------------------------------------- warning rules

LR = Range("learning_rate", 1e-4, 1e-1, log=True)
UNITS = Range("units", 16, 256, integer=True)
DROPOUT = Range("dropout", 0.0, 0.5)


def test_edge_of_range_flags_values_at_either_bound() -> None:
    found = edge_of_range(
        {"learning_rate": "0.098", "units": "16", "dropout": "0.25"}, [LR, UNITS, DROPOUT]
    )
    assert len(found) == 2
    assert "learning_rate" in found[0] and "upper edge" in found[0]
    assert "units" in found[1] and "lower edge" in found[1]


def test_edge_of_range_uses_the_log_scale_for_log_parameters() -> None:
    # 1.3e-4 is 4% into [1e-4, 1e-1] on a log scale (but 0.03% on a linear one)
    assert edge_of_range({"learning_rate": 1.3e-4}, [LR])
    assert not edge_of_range({"learning_rate": 1e-3}, [LR])  # 33% on the log scale
    assert edge_of_range({"dropout": 0.49}, [DROPOUT])  # 98% of a linear range
    assert not edge_of_range({"dropout": 0.45}, [DROPOUT])  # 90%


def test_edge_of_range_integers_only_at_their_bound() -> None:
    assert not edge_of_range({"units": 20}, [UNITS])
    assert edge_of_range({"units": 256}, [UNITS])


def test_edge_of_range_ignores_missing_and_categorical_values() -> None:
    assert edge_of_range({"learning_rate": "adam", "units": None}, [LR, UNITS]) == []
    assert edge_of_range({}, [LR]) == []


def test_mostly_failed() -> None:
    assert mostly_failed({"COMPLETE": 5, "PRUNED": 2, "FAIL": 3}) is None  # exactly half
    message = mostly_failed({"COMPLETE": 2, "PRUNED": 3, "FAIL": 5})
    assert message is not None and "8 of 10" in message and "5 failed, 3 pruned" in message
    assert mostly_failed({}) is None


def test_last_improvement_and_min_delta() -> None:
    assert last_improvement([0.5, 0.6, None, 0.55, 0.7], "maximize") == 4
    assert last_improvement([0.5, 0.5 + 1e-6], "maximize") == 0  # below min_delta
    assert last_improvement([3.0, 2.0, 2.5], "minimize") == 1
    assert last_improvement([None, float("nan")], "maximize") is None


def test_stalled_needs_a_long_flat_tail() -> None:
    early_best = [0.9] + [0.5] * 19  # best at trial 0 of 20
    message = stalled(early_best, "maximize")
    assert message is not None and "19 trials" in message and "trial 0" in message
    improving = [i / 20 for i in range(20)]
    assert stalled(improving, "maximize") is None
    assert stalled([0.9] + [0.5] * 5, "maximize") is None  # too few trials to judge
    recent = [0.5] * 12 + [0.9] + [0.5] * 7  # improved 7 trials before the end of 20
    assert stalled(recent, "maximize") is None


def test_stalled_reports_real_trial_numbers_and_minimize() -> None:
    values = [1.0, 0.2] + [0.5] * 12
    message = stalled(values, "minimize", trial_numbers=list(range(100, 114)))
    assert message is not None and "trial 101" in message


# ---------------------------------------------------------------------- pictures and page


def test_axes_read_mlflow_strings_with_the_search_space() -> None:
    space = {
        "lr": Param("lr", "float", low=1e-4, high=1e-1, log=True),
        "opt": Param("opt", "categorical", choices=("adam", "sgd")),
        "batch_size": Param("batch_size", "fixed", value=64),
    }
    params = [
        {"lr": "0.001", "opt": "sgd", "batch_size": "64"},
        {"lr": "0.01", "opt": "adam", "batch_size": "64"},
    ]
    axes = {a.name: a for a in plots.build_axes(params, space)}
    assert set(axes) == {"lr", "opt"}  # fixed parameters are not plotted
    assert axes["lr"].log and axes["lr"].values == (0.001, 0.01)
    assert axes["opt"].values == (1.0, 0.0) and axes["opt"].native(0) == "sgd"


def test_importance_plots_and_pareto_from_plain_values(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 12
    lr = rng.uniform(1e-4, 1e-1, n)
    units = rng.integers(8, 64, n)
    values = [float(1 - 5 * x) for x in lr]  # only the learning rate matters
    axes = plots.build_axes(
        [{"lr": str(a), "units": str(b)} for a, b in zip(lr, units, strict=True)]
    )
    importances = plots.param_importances(axes, values, "maximize")
    assert next(iter(importances)) == "lr" and sum(importances.values()) == pytest.approx(1.0)
    numbers = list(range(n))
    for path in (
        plots.plot_history(tmp_path / "h.png", numbers, values, "maximize", "f1", "trial"),
        plots.plot_parallel(tmp_path / "p.png", axes, values, "f1", "maximize"),
        plots.plot_importance(tmp_path / "i.png", importances, "f1"),
        plots.plot_slices(tmp_path / "s.png", axes, values, numbers, "f1"),
        plots.plot_contour(tmp_path / "c.png", axes[0], axes[1], values, "f1"),
        plots.plot_pareto(
            tmp_path / "pf.png", values, list(units), [True] * 3 + [False] * 9, numbers, ("a", "b")
        ),
    ):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert history.best_so_far([0.2, None, 0.1, 0.5], "maximize") == [0.2, 0.2, 0.2, 0.5]


def test_slice_dots_are_coloured_by_their_sweep_trial_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sample of a big sweep (numbers with gaps) is drawn from a study of the sample alone;
    each dot still carries its sweep trial number, on one scale up to the last trial."""
    numbers = [3, 40, 41, 977, 9_999]
    values = [0.1, 0.5, 0.4, 0.9, 0.7]
    axes = plots.build_axes([{"lr": str(v / 10), "units": str(int(v * 100))} for v in values])
    figures = []

    def keep(fig):  # the figure as drawn, before it becomes pixels
        figures.append(fig)
        return np.ones((10, 10, 4))

    monkeypatch.setattr(plots, "_rendered", keep)
    plots.plot_slices(tmp_path / "s.png", axes, values, numbers, "f1")
    from matplotlib.collections import PathCollection

    dots = [c for fig in figures for ax in fig.axes for c in ax.collections]
    coloured = [c for c in dots if isinstance(c, PathCollection) and c.get_array() is not None]
    assert len(coloured) == 2  # one per parameter
    for collection in coloured:
        assert sorted(collection.get_array().tolist()) == numbers
        assert collection.get_clim() == (0, 9_999)


def test_per_class_scores_from_a_confusion_matrix() -> None:
    scores = plots.per_class_scores(np.array([[3, 1], [0, 0]]))
    assert scores["precision"] == [1.0, 0.0] and scores["recall"] == [0.75, 0.0]
    assert scores["f1"][0] == pytest.approx(2 * 0.75 / 1.75) and scores["support"] == [4.0, 0.0]


def test_html_page_is_self_contained(tmp_path: Path) -> None:
    png = plots.plot_importance(tmp_path / "i.png", {"a": 0.7, "b": 0.3}, "f1")
    page = html.render(
        "hpo report: s <1>",
        ["line"],
        ["widen <it>"],
        [html.Figure("Importance", png)],
        [html.Table("t", ["k", "v"], [["x", 0.5]])],
    )
    encoded = base64.b64encode(png.read_bytes()).decode()
    assert f"data:image/png;base64,{encoded}" in page
    assert "widen &lt;it&gt;" in page and "s &lt;1&gt;" in page  # escaped
    assert 'src="http' not in page and "<script" not in page


# ---------------------------------------------------------------------- a real sweep


def _sweep_run(workdir: Path, study: str) -> tuple[MlflowClient, str]:
    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    exp = client.get_experiment_by_name("tiny")
    runs = client.search_runs(
        [exp.experiment_id], filter_string=f"tags.`hpo.study` = '{study}'", max_results=100
    )
    sweep = next(r for r in runs if r.data.tags.get("hpo.kind") == "sweep")
    return client, sweep.info.run_id


@pytest.mark.slow
def test_run_logs_the_report_and_hpo_report_writes_it(cli, write_config, workdir):
    config = write_config(**{"budget.trials": 2, "tracking.report": True})
    done = cli("run", str(config), "--study", "r1", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)  # the report printed nothing on stdout
    assert "report logged to the sweep run under report/" in done.stderr

    client, run_id = _sweep_run(workdir, "r1")
    assert run_id == summary["sweep_run_id"]
    logged = {Path(a.path).name for a in client.list_artifacts(run_id, "report")}
    assert logged == EVERY_FILE

    out = workdir / "out"
    done = cli("report", "tiny", "--study", "r1", "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert {p.name for p in out.iterdir()} == EVERY_FILE
    for name in PNGS:
        assert (out / name).read_bytes()[:4] == b"\x89PNG", name
    payload = json.loads((out / "report.json").read_text())
    assert payload["best"]["run_id"] == summary["best"]["run_id"]
    assert payload["per_class"]["split"] == "validation"
    assert len(payload["per_class"]["classes"]) == 10  # digits
    assert set(payload["importances"]) == {"learning_rate", "units"}
    assert payload["notes"] == []
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(PNGS)

    missing = cli("report", "tiny", "--study", "nope", "--output", str(out))
    assert missing.returncode == 2 and "no study 'nope'" in missing.stderr

    # every trial carries its validation confusion matrix, which agrees with its metrics
    best = client.get_run(summary["best"]["run_id"])
    logged_matrix = json.loads(
        Path(
            client.download_artifacts(best.info.run_id, "confusion_matrix.json", str(out))
        ).read_text()
    )
    matrix = np.asarray(logged_matrix["matrix"])
    assert matrix.shape == (10, 10) and len(logged_matrix["class_names"]) == 10
    accuracy = np.trace(matrix) / matrix.sum()
    assert accuracy == pytest.approx(best.data.metrics["accuracy"])
    # ... so the report needs no model: the orchestrator never imports TensorFlow for it
    probe = (
        "import sys; from hpo.reporting.build import log_sweep_report; "
        f"log_sweep_report('tiny', 'r1', 'sqlite:///{workdir / 'mlflow.db'}'); "
        "print('tensorflow' in sys.modules)"
    )
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=workdir, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "False", done.stderr[-2000:]


@pytest.mark.slow
def test_no_report_flag_and_config_switch(cli, write_config, workdir):
    config = write_config(**{"budget.trials": 1, "tracking.report": True})
    done = cli("run", str(config), "--study", "n1", "--no-report", "--json")
    assert done.returncode == 0, done.stderr
    client, run_id = _sweep_run(workdir, "n1")
    assert client.list_artifacts(run_id, "report") == []

    # the YAML switch, read by the same `run` command
    from hpo.config.experiment import load_experiment

    off = write_config(**{"tracking.report": False}, name="off.yaml")
    assert load_experiment(off).tracking.report is False
    assert load_experiment(config).tracking.report is True


def test_a_history_of_thousands_of_trials_is_a_density_not_dots(tmp_path: Path) -> None:
    """10,000 dots are one blue blob: past DENSE_TRIALS the history counts trials per cell."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PathCollection, PolyCollection

    rng = np.random.default_rng(0)
    for n, drawn in ((50, PathCollection), (history.DENSE_TRIALS + 1, PolyCollection)):
        values = [float(v) for v in rng.uniform(0.8, 0.95, n)]
        fig, ax = plt.subplots()
        history.draw_history(ax, list(range(n)), values, "maximize", "f1", "trial")
        assert [type(c) for c in ax.collections] == [drawn]
        assert ax.get_lines()[0].get_label() == "best so far"
        plt.close(fig)
    values = [float(v) for v in rng.uniform(0.8, 0.95, 3000)]
    path = plots.plot_trial_history(tmp_path / "h.png", list(range(3000)), values, "maximize", "f1")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
