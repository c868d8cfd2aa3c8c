"""Matplotlib (Agg) pictures of a sweep, drawn from its MLflow trial records.

Everything here takes plain values (axes of parameter values, objective values in trial
order), so plots never touch MLflow and work the same for every strategy. Parameter
importance rebuilds an in-memory Optuna study from the records (`create_trial` +
`add_trials`) and asks `optuna.importance` (fANOVA), the same numbers Optuna users know.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpo.config.space import Param

DPI = 100


def _plt() -> Any:
    """pyplot on the Agg backend: no display on servers and CI, and no window pops up."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    _plt().close(fig)
    return path


# ---------------------------------------------------------------------- parameter axes


@dataclass(frozen=True)
class Axis:
    """One parameter as numbers (categorical: the choice's index) for plotting."""

    name: str
    values: tuple[float | None, ...]  # one per record, None when the parameter was inactive
    log: bool = False
    labels: tuple[str, ...] | None = None  # categorical choices, in index order
    param: Param | None = None

    @property
    def categorical(self) -> bool:
        return self.labels is not None

    def native(self, index: int) -> Any:
        """The value as the search space knows it (for rebuilding an Optuna trial)."""
        value = self.values[index]
        if value is None:
            return None
        if self.param is not None and self.param.kind == "categorical":
            return self.param.choices[int(value)]
        if self.labels is not None:
            return self.labels[int(value)]
        if self.param is not None and self.param.kind == "int":
            return int(value)
        return float(value)


def _number(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def build_axes(
    params: Sequence[Mapping[str, str]], space: Mapping[str, Param] | None = None
) -> list[Axis]:
    """One axis per searched parameter (fixed ones and single-valued ones dropped).

    MLflow stores params as strings; the search space (when known) says how to read them
    back and which are on a log scale. Without it, numbers are numeric and the rest categorical.
    """
    names = sorted({k for p in params for k in p})
    axes = []
    for name in names:
        raw = [p.get(name) for p in params]
        param = space.get(name) if space else None
        if param is not None and param.kind == "fixed":
            continue
        if param is not None and param.kind == "categorical":
            labels = tuple(str(c) for c in param.choices)
            values = tuple(float(labels.index(r)) if r in labels else None for r in raw)
            axis = Axis(name, values, labels=labels, param=param)
        elif param is not None or all(_number(r) is not None for r in raw if r is not None):
            values = tuple(_number(r) for r in raw)
            axis = Axis(name, values, log=bool(param and param.log), param=param)
        else:
            labels = tuple(sorted({r for r in raw if r is not None}))
            values = tuple(float(labels.index(r)) if r is not None else None for r in raw)
            axis = Axis(name, values, labels=labels)
        if len({v for v in axis.values if v is not None}) > 1 or (
            param is not None and param.kind != "fixed"
        ):
            axes.append(axis)
    return axes


# ---------------------------------------------------------------------- optimisation history


def best_so_far(values: Sequence[float | None], direction: str) -> list[float | None]:
    """Running best (None until the first scored trial)."""
    out: list[float | None] = []
    best: float | None = None
    for value in values:
        if (
            value is not None
            and math.isfinite(value)
            and (best is None or (value > best if direction == "maximize" else value < best))
        ):
            best = value
        out.append(best)
    return out


def plot_history(
    path: Path,
    xs: Sequence[float],
    values: Sequence[float | None],
    direction: str,
    metric: str,
    xlabel: str,
) -> Path:
    """Every trial's objective and the best so far: has the search converged?"""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    points = [(x, v) for x, v in zip(xs, values, strict=True) if v is not None]
    if points:
        ax.scatter(*zip(*points, strict=True), s=18, color="#4c72b0", label="trial", zorder=3)
    running = [
        (x, b) for x, b in zip(xs, best_so_far(values, direction), strict=True) if b is not None
    ]
    if running:
        ax.step(*zip(*running, strict=True), where="post", color="#dd8452", label="best so far")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(metric)
    ax.set_title(f"optimisation history ({direction} {metric})")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    return _save(fig, path)


# ---------------------------------------------------------------------- parameters


def _scaled(axis: Axis) -> list[float | None]:
    """Axis values mapped to 0..1 (log scale for log parameters) for parallel coordinates."""
    values = [v if v is None or not axis.log or v <= 0 else math.log10(v) for v in axis.values]
    known = [v for v in values if v is not None]
    if axis.categorical:
        low, high = 0.0, float(max(len(axis.labels or ()) - 1, 1))
    elif axis.param is not None and axis.param.low is not None and axis.param.high is not None:
        low, high = axis.param.low, axis.param.high
        if axis.log and low > 0:
            low, high = math.log10(low), math.log10(high)
    else:
        low, high = (min(known), max(known)) if known else (0.0, 1.0)
    span = (high - low) or 1.0
    return [None if v is None else (v - low) / span for v in values]


def _axis_ends(axis: Axis) -> tuple[str, str]:
    if axis.categorical:
        labels = axis.labels or ("",)
        return labels[0], labels[-1]
    if axis.param is not None and axis.param.low is not None and axis.param.high is not None:
        return f"{axis.param.low:.3g}", f"{axis.param.high:.3g}"
    known = [v for v in axis.values if v is not None]
    return (f"{min(known):.3g}", f"{max(known):.3g}") if known else ("", "")


def plot_parallel(
    path: Path, axes: Sequence[Axis], values: Sequence[float | None], metric: str, direction: str
) -> Path:
    """One line per completed trial across every parameter, coloured by the objective."""
    plt = _plt()
    score = {i: float(v) for i, v in enumerate(values) if v is not None}
    columns = [_scaled(a) for a in axes]
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * (len(axes) + 1)), 4.5))
    ends = [_axis_ends(a) for a in axes]
    if score:
        low, high = min(score.values()), max(score.values())
        cmap = plt.get_cmap("viridis" if direction == "maximize" else "viridis_r")
        span = (high - low) or 1.0
        sign = 1.0 if direction == "maximize" else -1.0
        for i in sorted(score, key=lambda i: sign * score[i]):  # the best drawn last, on top
            ys = [c[i] for c in columns] + [(score[i] - low) / span]
            xs = [x for x, y in enumerate(ys) if y is not None]
            colour = cmap((score[i] - low) / span)
            ax.plot(xs, [y for y in ys if y is not None], color=colour, alpha=0.8, lw=1.4)
        sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(low, high))
        fig.colorbar(sm, ax=ax, label=metric)
        ends.append((f"{low:.3g}", f"{high:.3g}"))
    else:
        ends.append(("", ""))
    names = [a.name for a in axes] + [metric]
    for x, (bottom, top) in enumerate(ends):
        ax.axvline(x, color="grey", lw=0.8)
        ax.text(x, -0.06, bottom, ha="center", va="top", fontsize=7)
        ax.text(x, 1.04, top, ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(names)), names, rotation=20)
    ax.set_yticks([])
    ax.set_ylim(-0.15, 1.15)
    ax.set_title("parallel coordinates (completed trials)", pad=18)
    return _save(fig, path)


def param_importances(
    axes: Sequence[Axis], values: Sequence[float | None], direction: str
) -> dict[str, float]:
    """fANOVA importances from an in-memory Optuna study rebuilt from the records.

    Only trials with a score and every parameter set take part (Optuna's rule: conditional
    parameters are left out). Empty when there are too few trials to say anything.
    """
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    from hpo.study.ledger import distribution

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    distributions: dict[str, Any] = {}
    for a in axes:
        if a.param is not None:
            distributions[a.name] = distribution(a.param)
        elif a.categorical:
            distributions[a.name] = CategoricalDistribution(a.labels or ())
        else:
            known = [v for v in a.values if v is not None]
            distributions[a.name] = FloatDistribution(min(known), max(known))
    trials = []
    for i, value in enumerate(values):
        if value is None:
            continue
        params = {a.name: a.native(i) for a in axes if a.values[i] is not None}
        trials.append(
            optuna.trial.create_trial(
                params=params,
                distributions={k: distributions[k] for k in params},
                value=value,
            )
        )
    if len(trials) < 2:
        return {}
    study = optuna.create_study(direction="maximize" if direction == "maximize" else "minimize")
    study.add_trials(trials)
    try:
        found = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0))
    except (ValueError, RuntimeError):  # e.g. no parameter common to all trials
        return {}
    return {k: float(v) for k, v in found.items()}


def plot_importance(path: Path, importances: Mapping[str, float], metric: str) -> Path:
    plt = _plt()
    names = list(importances)[::-1]  # most important on top
    fig, ax = plt.subplots(figsize=(6.5, 1.2 + 0.4 * max(len(names), 1)))
    ax.barh(names, [importances[n] for n in names], color="#4c72b0")
    for y, name in enumerate(names):
        ax.text(importances[name], y, f" {importances[name]:.2f}", va="center", fontsize=8)
    ax.set_xlabel(f"importance for {metric} (fANOVA, sums to 1)")
    ax.set_xlim(0, 1.1)
    ax.set_title("parameter importance")
    return _save(fig, path)


def _set_axis(ax: Any, axis: Axis, which: str) -> None:
    """Log scale or categorical tick labels on one matplotlib axis ("x" or "y")."""
    if axis.log:
        from matplotlib.ticker import NullFormatter

        (ax.set_xscale if which == "x" else ax.set_yscale)("log")
        (ax.xaxis if which == "x" else ax.yaxis).set_minor_formatter(NullFormatter())
    if axis.categorical:
        ticks = list(range(len(axis.labels or ())))
        (ax.set_xticks if which == "x" else ax.set_yticks)(ticks, list(axis.labels or ()))
    (ax.set_xlabel if which == "x" else ax.set_ylabel)(axis.name)


def plot_slices(
    path: Path,
    axes: Sequence[Axis],
    values: Sequence[float | None],
    trial_numbers: Sequence[int],
    metric: str,
) -> Path:
    """The objective against each parameter alone: where in its range the good trials are."""
    plt = _plt()
    n = max(len(axes), 1)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, grid = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for k, axis in enumerate(axes):
        ax = grid[k // cols][k % cols]
        points = [
            (x, v, t)
            for x, v, t in zip(axis.values, values, trial_numbers, strict=True)
            if x is not None and v is not None
        ]
        if points:
            xs, ys, ts = zip(*points, strict=True)
            dots = ax.scatter(xs, ys, c=ts, cmap="Blues", edgecolors="grey", s=24)
            if k == len(axes) - 1:
                fig.colorbar(dots, ax=ax, label="trial")
        _set_axis(ax, axis, "x")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    for k in range(len(axes), rows * cols):
        grid[k // cols][k % cols].axis("off")
    fig.suptitle(f"slice plots ({metric} against each parameter)")
    return _save(fig, path)


def plot_contour(
    path: Path, x_axis: Axis, y_axis: Axis, values: Sequence[float | None], metric: str
) -> Path:
    """The objective over the two most important parameters (interpolated when it can be)."""
    plt = _plt()
    points = [
        (x, y, v)
        for x, y, v in zip(x_axis.values, y_axis.values, values, strict=True)
        if x is not None and y is not None and v is not None
    ]
    fig, ax = plt.subplots(figsize=(6.5, 5))
    if points:
        xs, ys, zs = (np.asarray(c, dtype=float) for c in zip(*points, strict=True))
        try:
            # interpolate on the plotted scale (log for log parameters)
            gx = np.log10(xs) if x_axis.log else xs
            gy = np.log10(ys) if y_axis.log else ys
            filled = ax.tricontourf(gx, gy, zs, levels=12, cmap="viridis", alpha=0.85)
            fig.colorbar(filled, ax=ax, label=metric)
            plot_x, plot_y = gx, gy
        except (ValueError, RuntimeError):  # fewer than 3 points, or all on one line
            plot_x, plot_y = (
                (np.log10(xs) if x_axis.log else xs),
                (np.log10(ys) if y_axis.log else ys),
            )
        ax.scatter(plot_x, plot_y, c=zs, cmap="viridis", edgecolors="black", s=30, zorder=3)
    for axis, which in ((x_axis, "x"), (y_axis, "y")):
        _set_axis(ax, Axis(axis.name, axis.values, False, axis.labels), which)
        if axis.log:
            (ax.set_xlabel if which == "x" else ax.set_ylabel)(f"log10 {axis.name}")
    ax.set_title(f"{metric} over {x_axis.name} and {y_axis.name}")
    return _save(fig, path)


def plot_pareto(
    path: Path,
    xs: Sequence[float],
    ys: Sequence[float],
    on_front: Sequence[bool],
    trial_numbers: Sequence[int],
    labels: tuple[str, str],
) -> Path:
    """The first two objectives of every completed trial, the Pareto set highlighted."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    rest = [(x, y) for x, y, f in zip(xs, ys, on_front, strict=True) if not f]
    front = sorted(
        (x, y, t) for x, y, f, t in zip(xs, ys, on_front, trial_numbers, strict=True) if f
    )
    if rest:
        ax.scatter(*zip(*rest, strict=True), color="#bbbbbb", s=20, label="dominated")
    if front:
        fx, fy, _ = zip(*front, strict=True)
        ax.plot(fx, fy, "o-", color="#c44e52", label="Pareto set", zorder=3)
        for x, y, t in front:
            ax.annotate(str(t), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title("Pareto front (numbers: trials)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    return _save(fig, path)


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
    plt = _plt()
    n = len(matrix)
    fig, ax = plt.subplots(figsize=(1.8 + 0.5 * n, 1.4 + 0.5 * n))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), list(class_names), rotation=90 if n > 6 else 0)
    ax.set_yticks(range(n), list(class_names))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(n):
        for j in range(n):
            colour = "white" if matrix[i, j] > threshold else "black"
            ax.text(
                j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=7, color=colour
            )
    return _save(fig, path)


def plot_per_class(
    path: Path, class_names: Sequence[str], scores: Mapping[str, Sequence[float]], title: str
) -> Path:
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
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=3)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)
