"""`hpo compare`: which strategy should I use? An honest, paired comparison.

Every strategy runs `repeats` times on the SAME data split (the split seed is pinned) with
the same trial budget; repeat r uses strategy seed `seed + r` for every strategy, so the
runs are paired. Each sweep is logged as usual and nested under one comparison run. For
`grid` the budget is the grid size (a grid cut short is not a fair competitor), and its
repeats are identical by construction.

Reported per strategy: mean ± std of the best objective, the mean best-so-far curve against
trial count and against wall time, the trials needed to reach a target, and a significance
test: Friedman across all strategies (blocks = repeats) and pairwise Wilcoxon signed-rank
tests with Holm's correction.
"""

from __future__ import annotations

import math
import secrets
import statistics
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from hpo.config.experiment import Experiment
from hpo.config.names import fit_name
from hpo.errors import UserInputError
from hpo.search import REGISTRY, strategy_class
from hpo.sweep.pool import early_training_processes
from hpo.sweep.preflight import Checked, check
from hpo.sweep.setup import SweepOptions, run_sweep
from hpo.sweep.threads import threads_per_process
from hpo.tracking import schema
from hpo.tracking.runs import Tracker
from hpo.tracking.sweeps import SweepView

# compare runs a grid in full (a grid cut short is not a fair competitor): beyond this many
# candidates that is days of training, refused before anything is written
MAX_COMPARE_GRID = 10_000


@dataclass
class StrategyRuns:
    name: str
    budget: int
    best: list[float] = field(default_factory=list)  # per repeat
    curves: list[list[float]] = field(default_factory=list)  # best-so-far per trial
    times: list[list[float]] = field(default_factory=list)  # seconds since sweep start
    # training processes' CPU seconds spent by each trial, summed (metric cpu_seconds)
    cpu: list[list[float]] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    studies: list[str] = field(default_factory=list)

    def trials_to_reach(self, target: float, maximize: bool) -> list[int | None]:
        out: list[int | None] = []
        for curve in self.curves:
            hit = next(
                (i + 1 for i, v in enumerate(curve) if (v >= target if maximize else v <= target)),
                None,
            )
            out.append(hit)
        return out

    def cpu_to_reach(self, target: float, maximize: bool) -> list[float | None]:
        """CPU seconds of training spent until the target was first reached (per repeat)."""
        reached = self.trials_to_reach(target, maximize)
        return [None if n is None else cpu[n - 1] for n, cpu in zip(reached, self.cpu, strict=True)]

    def summary(self, target: float, maximize: bool) -> dict[str, Any]:
        finite = [b for b in self.best if math.isfinite(b)]
        reached = self.trials_to_reach(target, maximize)
        hits = [r for r in reached if r is not None]
        cpu = self.cpu_to_reach(target, maximize)
        cpu_hits = [c for c in cpu if c is not None]
        return {
            "strategy": self.name,
            "budget": self.budget,
            "repeats": len(self.best),
            "best": self.best,
            "best_mean": statistics.fmean(finite) if finite else None,
            "best_std": statistics.pstdev(finite) if len(finite) > 1 else 0.0,
            "wall_seconds_mean": statistics.fmean(self.wall) if self.wall else None,
            "trials_to_target": reached,
            "trials_to_target_median": statistics.median(hits) if hits else None,
            "cpu_seconds_to_target": cpu,
            "cpu_seconds_to_target_median": statistics.median(cpu_hits) if cpu_hits else None,
            "curve_by_trial": _mean_curve(self.curves),
            "studies": self.studies,
        }


def _mean_curve(curves: Sequence[Sequence[float]]) -> list[float]:
    if not curves:
        return []
    n = max(len(c) for c in curves)
    padded = [list(c) + [c[-1]] * (n - len(c)) for c in curves if c]
    return [float(np.mean([c[i] for c in padded])) for i in range(n)]


def _holm(pvalues: dict[str, float]) -> dict[str, float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone)."""
    ordered = sorted(pvalues.items(), key=lambda kv: kv[1])
    m = len(ordered)
    adjusted: dict[str, float] = {}
    running = 0.0
    for i, (key, p) in enumerate(ordered):
        running = max(running, min(1.0, (m - i) * p))
        adjusted[key] = running
    return adjusted


def significance(runs: Sequence[StrategyRuns]) -> dict[str, Any]:
    """Friedman over strategies (needs >= 3 strategies and >= 2 paired repeats) and
    pairwise Wilcoxon signed-rank tests with Holm's correction."""
    from scipy import stats

    repeats = min(len(r.best) for r in runs) if runs else 0
    out: dict[str, Any] = {"repeats": repeats}
    if repeats < 2:
        out["note"] = "needs at least 2 repeats"
        return out
    table = np.array([r.best[:repeats] for r in runs])
    if len(runs) >= 3:
        try:
            statistic, p = stats.friedmanchisquare(*table)
            out["friedman"] = {"statistic": float(statistic), "p_value": float(p)}
        except ValueError as err:
            out["friedman"] = {"note": str(err)}
    raw: dict[str, float] = {}
    for i in range(len(runs)):
        for j in range(i + 1, len(runs)):
            diff = table[i] - table[j]
            key = f"{runs[i].name} vs {runs[j].name}"
            if np.allclose(diff, 0):
                raw[key] = 1.0
                continue
            try:
                raw[key] = float(stats.wilcoxon(table[i], table[j]).pvalue)
            except ValueError:
                raw[key] = 1.0
    out["wilcoxon_holm"] = _holm(raw)
    return out


def plot(runs: Sequence[StrategyRuns], metric: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_trial, by_time) = plt.subplots(1, 2, figsize=(11, 4))
    for run in runs:
        curve = _mean_curve(run.curves)
        by_trial.plot(range(1, len(curve) + 1), curve, label=run.name)
        for times, values in zip(run.times, run.curves, strict=True):
            by_time.plot(times, values, alpha=0.6, label=run.name if times is run.times[0] else "")
    by_trial.set(xlabel="trial", ylabel=f"best {metric} so far", title="mean over repeats")
    by_time.set(
        xlabel="seconds since sweep start", ylabel=f"best {metric} so far", title="every repeat"
    )
    by_trial.legend(fontsize=8)
    by_time.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def compare(
    experiment: Experiment,
    *,
    source: str,
    strategies: Sequence[str],
    trials: int,
    repeats: int,
    tracking_uri: str,
    storage: str | None,
    target: float | None = None,
    notify: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    unknown = [s for s in strategies if s not in REGISTRY]
    if unknown:
        raise UserInputError(
            f"unknown strategy {unknown[0]!r} (known: {', '.join(REGISTRY)})",
            field="--strategies",
        )
    if experiment.multi_objective:
        raise UserInputError("compare ranks one objective", field="objective")
    pinned = experiment.with_overrides(**{"data.seed": experiment.data.seed or experiment.seed})
    # check every strategy before anything runs or is written
    checked = {name: check(_for(pinned, name, trials, 0), source=source) for name in strategies}
    # a grid runs in full here (its size is its budget): size it before anything is written
    sizes = {name: _search_size(checked[name]) for name in strategies}
    for name, size in sizes.items():
        if size is not None and size > MAX_COMPARE_GRID:
            raise UserInputError(
                f"the {name} grid has {size} candidates and compare runs a grid in full "
                f"(at most {MAX_COMPARE_GRID}): use fewer grid_points or values",
                field="strategies",
            )
    metric, maximize = experiment.primary.metric, experiment.primary.direction == "maximize"
    # random suffix: two compares started in the same second never share a study
    stamp = f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
    tracker = Tracker(tracking_uri)
    experiment_id = tracker.experiment_id(experiment.experiment_name)
    assert experiment_id is not None
    parent = tracker.start_run(
        experiment_id,
        f"compare-{stamp}",
        {schema.KIND: schema.KIND_COMPARISON, schema.STRATEGIES: ",".join(strategies)},
    )
    results: list[StrategyRuns] = []
    status = "FAILED"
    # one set of training processes for every sweep: TensorFlow starts once (the
    # processes left at the end are stopped with this block)
    threads = threads_per_process(pinned, 1)
    with early_training_processes(pinned, 0, threads) as kept:
        try:
            for name in strategies:
                budget = trials
                size = sizes[name]
                if size is not None:  # a finite search (a grid) runs in full: a fair competitor
                    budget = size
                    if notify:
                        notify(
                            f"{name}: the budget is the grid size ({budget} trials), not {trials}"
                        )
                runs = StrategyRuns(name, budget)
                for repeat in range(repeats):
                    exp = _for(pinned, name, budget, repeat)
                    study = fit_name(experiment.name, f"-compare-{stamp}-{name}-r{repeat}")
                    summary = run_sweep(
                        check(exp, source=source),
                        SweepOptions(
                            study=study,
                            tracking_uri=tracking_uri,
                            storage=storage,
                            early=kept,
                            keep=kept,
                        ),
                    )
                    tracker.nest_under(summary.sweep_run_id, parent)
                    _collect(runs, tracker, experiment_id, summary, metric, maximize)
                    runs.studies.append(study)
                results.append(runs)
            comparison = _comparison(results, metric, maximize, target)
            with tempfile.TemporaryDirectory() as tmp:
                png = Path(tmp) / "comparison.png"
                plot(results, metric, png)
                import json

                tracker.log_summary(
                    parent,
                    metrics={
                        f"best_{metric}_mean.{r['strategy']}": r["best_mean"]
                        for r in comparison["strategies"]
                        if r["best_mean"] is not None
                    },
                    files=[str(png)],
                    text={"comparison.json": json.dumps(comparison, indent=2, default=str)},
                )
            comparison["comparison_run_id"] = parent
            status = "FINISHED"
            return comparison
        finally:
            tracker.end_run(parent, status)


def _search_size(checked: Checked) -> int | None:
    """How many trials the strategy can ever ask for (None: unbounded)."""
    config = checked.experiment.strategy
    cls = strategy_class(config.name)
    return cls.size_of(checked.space, cls.Options.model_validate(config.options))


def _for(base: Experiment, strategy: str, trials: int, repeat: int) -> Experiment:
    """The experiment for one sweep: this strategy (its options only if the config named
    it), this budget, the repeat's strategy seed; the split stays pinned."""
    options = base.strategy.options if base.strategy.name == strategy else {}
    return base.with_overrides(
        **{
            "strategy.name": strategy,
            "strategy.options": options,
            "strategy.pruner": "none",
            "budget.trials": trials,
            "seed": base.seed + repeat,
        }
    )


def _collect(
    runs: StrategyRuns,
    tracker: Tracker,
    experiment_id: str,
    summary: Any,
    metric: str,
    maximize: bool,
) -> None:
    info = tracker.find_sweep(experiment_id, summary.study)
    assert info is not None
    view = SweepView(info, tracker.trials(experiment_id, summary.sweep_run_id))
    ordered = sorted(view.records, key=lambda r: r.end_time)
    best = -math.inf if maximize else math.inf
    curve, times, cpu = [], [], []
    spent = 0.0
    for record in ordered:
        spent += record.metrics.get("cpu_seconds", 0.0)
        cpu.append(spent)
        value = record.metrics.get(metric) if record.state == "COMPLETE" else None
        if value is not None and math.isfinite(value):
            best = max(best, value) if maximize else min(best, value)
        curve.append(best)
        times.append((record.end_time - info.start_time) / 1000)
    runs.curves.append(curve)
    runs.times.append(times)
    runs.cpu.append(cpu)
    runs.best.append(best)
    runs.wall.append(summary.wall_seconds)


def _comparison(
    runs: Sequence[StrategyRuns], metric: str, maximize: bool, target: float | None
) -> dict[str, Any]:
    finals = [b for r in runs for b in r.best if math.isfinite(b)]
    if target is None:  # default: what the median sweep reached, so the target is meaningful
        target = statistics.median(finals) if finals else math.nan
    return {
        "metric": metric,
        "direction": "maximize" if maximize else "minimize",
        "target": target,
        "strategies": [r.summary(target, maximize) for r in runs],
        "significance": significance(runs),
    }
