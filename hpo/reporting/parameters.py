"""The parameter pictures of a report: parallel coordinates, importance, slices, contour.

Thousands of trials: the pictures draw a sample and fANOVA fits another (reporting/sample.py).
The importances may come from the report's helper process (reporting/helper.py), fitted while
this process draws the pictures that do not need them; the contour, which does, comes last.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hpo.reporting import sample
from hpo.reporting.page import Page


@dataclass(frozen=True)
class Sampled:
    """The completed trials' parameter axes: those the pictures draw, those fANOVA fits."""

    shown: sample.Picked
    fitted: sample.Picked
    complete: int  # completed trials with a finite objective
    trial_numbers: list[int]  # the sweep trial number of each shown position


def sampled(
    records: Sequence[Any], values: Sequence[float | None], space: dict[str, Any], direction: str
) -> Sampled | None:
    """What the parameter pictures need; None when there is nothing to draw."""
    from hpo.reporting.axes import build_axes

    axes = build_axes([r.params for r in records], space)
    complete = [i for i, v in enumerate(values) if v is not None]
    if not axes or not complete:
        return None
    shown = sample.Picked.for_pictures(axes, values, complete, direction)
    fitted = sample.Picked.uniform(axes, values, complete)
    return Sampled(shown, fitted, len(complete), [records[i].trial for i in shown.positions])


def importances_here(picked: Sampled, direction: str) -> dict[str, float]:
    """fANOVA in this process (what the helper runs, when there is one)."""
    from hpo.reporting.axes import param_importances

    return param_importances(picked.fitted.axes, picked.fitted.values, direction)


def parameter_pictures(
    page: Page,
    picked: Sampled,
    metric: str,
    direction: str,
    importances: Callable[[], dict[str, float]],
) -> dict[str, float]:
    """Parallel coordinates, importance, slices and contour of the completed trials; returns
    the fANOVA importances (most important first) that `importances` gives."""
    from hpo.reporting import plots
    from hpo.reporting.axes import trials_study

    shown, fitted = picked.shown, picked.fitted
    # one study of the drawn trials for all three Optuna pictures (~0.35 s at 1,000)
    # (if it cannot be built, each picture tries on its own and becomes a note)
    study = page.attempt("trials study", lambda: trials_study(shown.axes, shown.values, direction))
    caption = sample.caption(len(shown.values), picked.complete)
    page.add(
        "parallel_coordinates.png",
        "Parallel coordinates",
        "each line is a completed trial; colour is the objective" + caption,
        lambda p: plots.plot_parallel(p, shown.axes, shown.values, metric, direction, study),
    )
    found: dict[str, float] = page.attempt("parameter importance", importances) or {}
    if found:
        page.add(
            "param_importance.png",
            "Parameter importance",
            "fANOVA (optuna.importance) on the completed trials"
            + (
                f" (a uniform sample of {len(fitted.values)})"
                if len(fitted.values) < picked.complete
                else ""
            ),
            lambda p: plots.plot_importance(p, found, metric),
        )
    else:
        page.note("parameter importance: needs at least 2 completed trials")
    page.add(
        "slices.png",
        "Slice plots",
        "the objective against each parameter; colour is the trial number" + caption,
        lambda p: plots.plot_slices(
            p, shown.axes, shown.values, picked.trial_numbers, metric, study
        ),
    )
    ranked = [a for name in found for a in shown.axes if a.name == name]
    ranked += [a for a in shown.axes if a not in ranked]
    if len(ranked) >= 2:
        page.add(
            "contour.png",
            "Contour of the two most important parameters",
            f"{ranked[0].name} and {ranked[1].name}",
            lambda p: plots.plot_contour(
                p, ranked[0], ranked[1], shown.values, metric, direction, study
            ),
        )
    else:
        page.note("contour: needs two searched parameters")
    return found


__all__ = ["Sampled", "importances_here", "parameter_pictures", "sampled"]
