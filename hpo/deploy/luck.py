"""Promotion that corrects for luck: the steps `hpo promote` adds with `--reevaluate`,
`--refit`, and the model card's confidence intervals and optimism.

The pick of a sweep is the trial whose validation score was highest, which is partly the
luckiest seed and split (the winner's curse): re-evaluation picks by the mean over fresh
seeds, the card says how wide the test score's interval is and by how much the validation
score flattered the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from hpo.config.selection import Where, check_selectable, direction_of, parse_where
from hpo.deploy.bootstrap import LEVEL, RESAMPLES, bootstrap_intervals, optimism
from hpo.deploy.reevaluate import Reevaluated, pick, reevaluate, top_trials, typed_params
from hpo.tracking.reads import TrialRecord

if TYPE_CHECKING:
    from hpo.deploy.refit import Refit
    from hpo.tracking.lineage import TrainedOn
    from hpo.tracking.registry import Registry
    from hpo.tracking.sweeps import SweepView


def reevaluated_pick(
    sweep: SweepView,
    metric: str,
    where: Sequence[str],
    top: int,
    seeds: int,
    registry: Registry,
) -> tuple[TrialRecord, str, list[Reevaluated]]:
    """The trial picked by the mean over fresh seeds, the run whose model is promoted (the
    trial's own when it logged one, else its first retrain's), and every re-evaluation."""
    from hpo.tracking.lineage import trained_on

    check_selectable(metric, "--metric")
    info = sweep.info
    constraints = [Where.of(c) for c in sweep.constraints]
    constraints += parse_where(where, sweep.records)
    direction = direction_of(metric, info.objective, info.direction)
    candidates = top_trials(sweep.records, metric, direction, constraints, top)
    trained = trained_on(registry.lineage(candidates[0].run_id))
    results = reevaluate(sweep, candidates, trained, seeds, metric, registry.uri)
    chosen = pick(results, direction)
    model_run = chosen.record.run_id if chosen.record.has_model else chosen.runs[0]
    return chosen.record, model_run, results


def refit_pick(
    sweep: SweepView, record: TrialRecord, trained: TrainedOn, tracking_uri: str | None
) -> Refit:
    from hpo.deploy.refit import refit

    return refit(record, typed_params(sweep, record, trained), trained, tracking_uri)


def card_sections(
    record: TrialRecord,
    trained: TrainedOn,
    test_metrics: dict[str, float],
    confusion: np.ndarray,
    refitted: Refit | None,
) -> tuple[list[str], dict[str, tuple[float, float]]]:
    """The card's extra sections (intervals, optimism, refit) and the intervals."""
    intervals = bootstrap_intervals(confusion, trained.average)
    flattered = optimism(record.metrics, test_metrics)
    rows = [
        f"| {name.removeprefix('test_')} | {value:.4f} | {intervals[name][0]:.4f} | "
        f"{intervals[name][1]:.4f} |"
        for name, value in test_metrics.items()
        if name in intervals
    ]
    lines = [
        f"## Test confidence ({LEVEL:.0%} bootstrap interval, {RESAMPLES:,} resamples of the "
        "test split)",
        "",
        "| metric | test | low | high |",
        "|---|---|---|---|",
        *rows,
        "",
        "## Optimism (validation metric - test metric)",
        "",
        "| metric | validation | test | optimism |",
        "|---|---|---|---|",
        *(
            f"| {m} | {record.metrics[m]:.4f} | {test_metrics['test_' + m]:.4f} | {v:+.4f} |"
            for m, v in flattered.items()
        ),
        "",
    ]
    if refitted is not None:
        lines += [
            "## Refit",
            "",
            f"- trained on train + validation: {refitted.rows} rows, {refitted.epochs} "
            f"epochs (run `{refitted.run_id}`, tag `hpo.refit=true`); the validation "
            "metrics above are the trial's, from before the refit",
            "",
        ]
    return lines, intervals
