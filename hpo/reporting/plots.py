"""Matplotlib (Agg) pictures of a sweep, drawn from plain values (never from MLflow).

The study pictures (history by trial, parallel coordinates, slices, contour, importance,
Pareto front) are `optuna.visualization.matplotlib`'s, drawn on an in-memory study rebuilt
from the trial records (`hpo.reporting.axes`), so they look like what Optuna users know.
Only what Optuna lacks is drawn here: the history by wall time and the best trial's
per-class bars; the confusion matrix is scikit-learn's `ConfusionMatrixDisplay`.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from hpo.reporting.axes import Axis, build_axes, param_importances, trials_study
from hpo.reporting.history import DENSE_TRIALS, draw_history

DPI = 100
# Optuna sizes its figures from rcParams; these keep labels readable at DPI
_STYLE = {"figure.figsize": (8.0, 4.8), "font.size": 10.0, "axes.titlesize": 12.0}
SLICES_PER_ROW = 4


def _plt() -> Any:
    """pyplot on the Agg backend: no display on servers and CI, and no window pops up."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _tidy_log_ticks(fig: Any) -> None:
    """No labels on minor log ticks: "2x10^1 3x10^1 ..." overprint each other on narrow axes."""
    from matplotlib.ticker import NullFormatter

    for ax in fig.axes:
        for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
            if scale == "log":
                axis.set_minor_formatter(NullFormatter())


def _save(fig: Any, path: Path) -> Path:
    _tidy_log_ticks(fig)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    _plt().close(fig)
    return path


@contextmanager
def _optuna_style(**rc: Any) -> Iterator[Any]:
    """`optuna.visualization.matplotlib`, quiet (its functions are experimental) and with its
    ggplot style kept inside the picture (rcParams are restored on exit)."""
    plt = _plt()
    import optuna
    from optuna.visualization import matplotlib as optuna_plots

    with warnings.catch_warnings(), plt.rc_context({**_STYLE, **rc}):
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield optuna_plots


def _figure_of(drawn: Any) -> Any:
    """Optuna returns one Axes or an array of them."""
    first = drawn.flat[0] if isinstance(drawn, np.ndarray) else drawn
    return first.figure


# ---------------------------------------------------------------------- optimisation history


def plot_trial_history(
    path: Path,
    trial_numbers: Sequence[int],
    values: Sequence[float | None],
    direction: str,
    metric: str,
    records: Sequence[Any] = (),
) -> Path:
    """Optuna's optimisation history: every trial's objective and the best so far; under
    cross-validation (`<metric>_std` logged) each trial's fold spread as an error bar. Past
    `DENSE_TRIALS` scored trials, hpo's own history (a density of the trials, the best so
    far): Optuna's would draw 10,000 overlapping dots and error bars."""
    if sum(v is not None for v in values) > DENSE_TRIALS:
        return plot_history(path, trial_numbers, values, direction, metric, "trial")
    study = trials_study([], values, direction, trial_numbers)
    with _optuna_style() as optuna_plots:
        ax = optuna_plots.plot_optimization_history(study, target_name=metric)
        ax.set_title(f"Optimisation history ({direction} {metric})")
        ax.set_ylabel(metric)
        from hpo.reporting.fold_spread import draw_fold_spread

        draw_fold_spread(ax, trial_numbers, values, records, metric)
        return _save(ax.figure, path)


def plot_history(
    path: Path,
    xs: Sequence[float],
    values: Sequence[float | None],
    direction: str,
    metric: str,
    xlabel: str,
) -> Path:
    """The objective and the best so far against any x, such as wall time (Optuna's history
    is by trial number only); past `DENSE_TRIALS` trials, how many fell in each cell (a
    log-scaled hexagonal density) instead of one dot each."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=_STYLE["figure.figsize"])
    draw_history(ax, xs, values, direction, metric, xlabel)
    return _save(fig, path)


# ---------------------------------------------------------------------- parameters


def plot_parallel(
    path: Path,
    axes: Sequence[Axis],
    values: Sequence[float | None],
    metric: str,
    direction: str,
    study: Any = None,
) -> Path:
    """Optuna's parallel coordinates: one line per completed trial, coloured by the objective.
    `study`: `trials_study(axes, values, direction)` if the caller has it already."""
    study = study if study is not None else trials_study(axes, values, direction)
    width = max(8.0, 1.3 * (len(axes) + 1))
    with _optuna_style(**{"figure.figsize": (width, 5.0)}) as optuna_plots:
        ax = optuna_plots.plot_parallel_coordinate(study, target_name=metric)
        ax.set_title("Parallel coordinates (completed trials)", y=1.04)
        for label in ax.get_xticklabels():
            label.set(rotation=30, ha="right", rotation_mode="anchor")
        return _save(ax.figure, path)


def plot_importance(path: Path, importances: Mapping[str, float], metric: str) -> Path:
    """Importance bars as Optuna draws them (ggplot style, most important on top, labelled
    to two decimals or "<0.01"). Drawn here, not with Optuna's function: that one imports
    `optuna.importance` and so scikit-learn (~1 s) only to draw numbers already computed."""
    plt = _plt()
    names = list(importances)[::-1]  # barh draws bottom up
    values = [float(importances[n]) for n in names]
    height = 1.6 + 0.45 * max(len(names), 1)
    with plt.rc_context({**_STYLE, "figure.figsize": (8.0, height)}), plt.style.context("ggplot"):
        fig, ax = plt.subplots()
        ax.barh(range(len(names)), values, height=0.8, color=plt.get_cmap("tab20c")(0))
        for row, value in enumerate(values):
            ax.text(value, row, f"{value:.2f}" if value >= 0.01 else "<0.01", va="center")
        ax.set_yticks(range(len(names)), names)
        ax.set_title("Parameter importance (fANOVA)", loc="left")
        ax.set_xlabel(f"importance for {metric} (sums to 1)")
        ax.set_ylabel("Hyperparameter")
        ax.set_xlim(0, 1.1)
        return _save(fig, path)


def plot_slices(
    path: Path,
    axes: Sequence[Axis],
    values: Sequence[float | None],
    trial_numbers: Sequence[int],
    metric: str,
    study: Any = None,
) -> Path:
    """Optuna's slice plots (the objective against each parameter alone), in rows of at most
    `SLICES_PER_ROW`: Optuna draws them all in one row, unreadable past a handful.

    The study holds only the trials drawn, numbered by position (a sample of 1,000 from a
    10,000-trial sweep would otherwise need 9,000 placeholder trials, ~1 s); each dot's colour
    is then set back to its sweep trial number. `study`: `trials_study(axes, values, ...)`
    if the caller has it already (either direction: slices do not rank)."""
    study = study if study is not None else trials_study(axes, values, "maximize")
    sweep_numbers = np.asarray(trial_numbers)
    names = sorted(a.name for a in axes)
    n_rows = max(math.ceil(len(names) / SLICES_PER_ROW), 1)
    rows = [list(row) for row in np.array_split(names, n_rows)]  # no lone parameter in a row
    last = max(trial_numbers, default=0)
    images = []
    for k, row in enumerate(rows):
        # Optuna makes each slice half as wide as rcParams' figure width
        with _optuna_style(**{"figure.figsize": (7.0, 3.6)}) as optuna_plots:
            drawn = optuna_plots.plot_slice(study, params=row or None, target_name=metric)
            fig = _figure_of(drawn)
            fig.suptitle(f"Slice plots: {metric} against each parameter" if k == 0 else "")
            for ax in np.atleast_1d(drawn).flat:
                ax.set_title("")
                for dots in ax.collections:  # one colour scale (trial number) for every slice
                    positions = dots.get_array()
                    if positions is None:  # Optuna's infeasible trials: one grey
                        continue
                    dots.set_array(sweep_numbers[np.asarray(positions, dtype=int)])
                    dots.set_clim(0, last)
            images.append(_rendered(fig))
    return _stacked(images, path)


def _rendered(fig: Any) -> np.ndarray:
    """A figure as RGBA pixels at `DPI` (cropped to what is drawn: Optuna's colour bar
    does not survive `tight_layout`)."""
    plt = _plt()
    buffer = io.BytesIO()
    _tidy_log_ticks(fig)
    fig.savefig(buffer, dpi=DPI, format="png", bbox_inches="tight", pad_inches=0.15)
    plt.close(fig)
    buffer.seek(0)
    image: np.ndarray = plt.imread(buffer, format="png")
    return image


def _stacked(images: Sequence[np.ndarray], path: Path) -> Path:
    """Pictures one under the other, pixel for pixel (narrower ones padded white on the right)."""
    width = max(image.shape[1] for image in images)
    padded = [
        np.pad(image, ((0, 0), (0, width - image.shape[1]), (0, 0)), constant_values=1.0)
        for image in images
    ]
    _plt().imsave(path, np.concatenate(padded), format="png")
    return path


def plot_contour(
    path: Path,
    x_axis: Axis,
    y_axis: Axis,
    values: Sequence[float | None],
    metric: str,
    direction: str = "maximize",
    study: Any = None,
) -> Path:
    """Optuna's contour of the objective over two parameters (the two most important).
    `study`: one of the same trials with these two parameters and maybe others."""
    study = study if study is not None else trials_study([x_axis, y_axis], values, direction)
    with _optuna_style(**{"figure.figsize": (7.5, 5.8)}) as optuna_plots:
        ax = optuna_plots.plot_contour(study, params=[x_axis.name, y_axis.name], target_name=metric)
        ax.set_title(f"{metric} over {x_axis.name} and {y_axis.name}")
        return _save(ax.figure, path)


def plot_pareto(
    path: Path,
    xs: Sequence[float],
    ys: Sequence[float],
    on_front: Sequence[bool],
    trial_numbers: Sequence[int],
    labels: tuple[str, str],
) -> Path:
    """Optuna's Pareto-front picture of the first two objectives, the front numbered.

    Which trials are on the front is hpo's decision (`selection.pareto_front`: every
    objective, the constraints), passed in as `on_front`; Optuna is given it as a one-value
    rank (0 on the front, 1 off it) and draws each trial at its two objective values.
    """
    import optuna
    from optuna.trial import create_trial

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study()
    study.add_trials(
        [
            create_trial(value=0.0 if front else 1.0, user_attrs={"xy": (x, y), "trial": t})
            for x, y, front, t in zip(xs, ys, on_front, trial_numbers, strict=True)
        ]
    )
    with _optuna_style(**{"figure.figsize": (8.0, 5.5)}) as optuna_plots:
        ax = optuna_plots.plot_pareto_front(
            study, targets=lambda t: t.user_attrs["xy"], target_names=list(labels)
        )
        for x, y, front, t in zip(xs, ys, on_front, trial_numbers, strict=True):
            if front:
                ax.annotate(str(t), (x, y), textcoords="offset points", xytext=(5, 5))
        names = {"Trial": "other trials", "Best Trial": "Pareto set"}
        handles, found = ax.get_legend_handles_labels()
        ax.legend(handles, [names.get(label, label) for label in found], loc="best")
        ax.set_title("Pareto front (numbers: trials on the front)")
        return _save(ax.figure, path)


# ---------------------------------------------------------------------- the best trial


def per_class_scores(matrix: np.ndarray) -> dict[str, list[float]]:
    """Per-class precision, recall, F1 and support from a confusion matrix (rows = true)."""
    m = np.asarray(matrix, dtype=float)
    hits = np.diag(m)
    predicted, actual = m.sum(axis=0), m.sum(axis=1)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, actual, out=np.zeros_like(hits), where=actual > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(hits), where=total > 0)
    return {
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "f1": f1.tolist(),
        "support": actual.tolist(),
    }


def plot_confusion(path: Path, matrix: np.ndarray, class_names: Sequence[str], title: str) -> Path:
    """scikit-learn's `ConfusionMatrixDisplay` (rows: true class, columns: predicted)."""
    plt = _plt()
    from sklearn.metrics import ConfusionMatrixDisplay

    n = len(matrix)
    side = 2.5 + 0.55 * n
    fig, ax = plt.subplots(figsize=(side + 1.2, side))
    display = ConfusionMatrixDisplay(np.asarray(matrix), display_labels=list(class_names))
    display.plot(
        ax=ax,
        cmap="Blues",
        colorbar=True,
        values_format="d",
        xticks_rotation="vertical" if n > 6 else "horizontal",
        text_kw={"fontsize": 9 if n <= 12 else 7},
    )
    ax.set_title(title)
    return _save(fig, path)


def plot_per_class(
    path: Path, class_names: Sequence[str], scores: Mapping[str, Sequence[float]], title: str
) -> Path:
    """Precision, recall and F1 side by side for each class (Optuna and scikit-learn have
    no such picture)."""
    plt = _plt()
    n = len(class_names)
    x = np.arange(n)
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * n + 2), 4))
    for k, (name, colour) in enumerate(
        (("precision", "#4c72b0"), ("recall", "#55a868"), ("f1", "#dd8452"))
    ):
        ax.bar(x + (k - 1) * 0.27, scores[name], width=0.27, label=name, color=colour)
    ax.set_xticks(x, list(class_names), rotation=90 if n > 10 else 0)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=3)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


__all__ = [
    "Axis",
    "build_axes",
    "param_importances",
    "per_class_scores",
    "plot_confusion",
    "plot_contour",
    "plot_history",
    "plot_importance",
    "plot_parallel",
    "plot_pareto",
    "plot_per_class",
    "plot_slices",
    "plot_trial_history",
]
