"""The model card and lineage tags of a promoted version: enough to trust and reproduce it.

Anyone holding `models:/NAME@ALIAS` can answer "which sweep, which data, which code, how good
on rows it never saw" from the registry alone.
"""

from __future__ import annotations

import json
import platform
import subprocess
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hpo.metrics import METRIC_NAMES
from hpo.scoring import THRESHOLD
from hpo.tracking import schema
from hpo.tracking.reads import RunLineage, TrialRecord
from hpo.tracking.registry import CONFUSION_FILE

if TYPE_CHECKING:
    from hpo.tracking.lineage import TrainedOn

# the key recorded, then the distributions that provide it (tensorflow ships under several)
LIBRARIES = {
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tensorflow-macos"),
    "keras": ("keras",),
    "mlflow": ("mlflow", "mlflow-skinny"),
    "numpy": ("numpy",),
    "scikit-learn": ("scikit-learn",),
    "hpo": ("hpo",),
}


def library_versions() -> dict[str, str]:
    """Versions that decide whether the model loads and predicts the same elsewhere."""
    versions = {"python": platform.python_version()}
    for key, distributions in LIBRARIES.items():
        for name in distributions:
            try:
                versions[key] = metadata.version(name)
                break
            except metadata.PackageNotFoundError:
                continue
    return versions


def git_commit(lineage: RunLineage) -> tuple[str, str] | None:
    """The commit recorded by the sweep, else the checkout promoting it (labelled so)."""
    for key in (schema.GIT_COMMIT, "mlflow.source.git.commit"):
        if lineage.sweep_tags.get(key):
            return lineage.sweep_tags[key], "sweep"
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return (commit, "promote") if done.returncode == 0 and commit else None


def lineage_tags(
    lineage: RunLineage, record: TrialRecord, test_metrics: Mapping[str, float]
) -> dict[str, str]:
    sweep = lineage.sweep_tags
    tags = {
        schema.EXPERIMENT: lineage.experiment,
        schema.STUDY: sweep.get(schema.STUDY, ""),
        schema.SWEEP_RUN_ID: lineage.sweep_run_id,
        schema.TRIAL_RUN_ID: lineage.run_id,
        schema.TRIAL: str(record.trial),
        schema.STRATEGY: sweep.get(schema.STRATEGY, ""),
        schema.OBJECTIVE: sweep.get(schema.OBJECTIVE, ""),
        schema.CONFIG_SHA256: sweep.get(schema.CONFIG_SHA256, ""),
        schema.DATA_SHA256: sweep.get(schema.DATA_SHA256, ""),
        schema.LIBRARY_VERSIONS: json.dumps(library_versions(), sort_keys=True),
    }
    commit = git_commit(lineage)
    if commit:
        tags[schema.GIT_COMMIT], tags[schema.GIT_COMMIT_SOURCE] = commit
    tags.update({f"hpo.{k}": f"{v:.6g}" for k, v in test_metrics.items()})
    return tags


def input_contract(scaling: str, raw_input: bool, is_text: bool) -> str:
    """What the model takes: raw features (it scales them itself) or pre-scaled rows (a
    model logged before raw input)."""
    if is_text:
        return "raw strings (the model vectorizes them itself)"
    if raw_input:
        return (
            f"raw features (the model applies `data.scaling: {scaling}`, fitted on the "
            "train split, as its first layer)"
        )
    return (
        f"scaled features (`data.scaling: {scaling}` fitted on the train split, applied "
        "outside the model: a model logged before raw input)"
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def card_markdown(
    name: str,
    alias: str,
    lineage: RunLineage,
    record: TrialRecord,
    trained: TrainedOn,
    test_metrics: Mapping[str, float],
    extra: Sequence[str] = (),
) -> str:
    """Markdown: what the model is, where it came from, how good it is on unseen rows;
    `extra` lines (confidence intervals, optimism, refit: deploy/luck.py) before "Use"."""
    exp, data = trained.experiment, trained.dataset
    sweep = lineage.sweep_tags
    commit = git_commit(lineage)
    metric_rows = [
        [
            m,
            f"{record.metrics[m]:.4f}" if m in record.metrics else "-",
            f"{test_metrics[f'test_{m}']:.4f}",
        ]
        for m in METRIC_NAMES
    ]
    param_rows = [[k, str(v)] for k, v in sorted(record.params.items())]
    versions = ", ".join(f"{k} {v}" for k, v in library_versions().items())
    return "\n".join(
        [
            f"# {name}",
            "",
            f"Trial {record.trial} of study `{sweep.get(schema.STUDY, '')}` in experiment "
            f"`{lineage.experiment}`, promoted by `hpo promote` (alias `{alias}`).",
            "",
            "## Lineage",
            "",
            f"- sweep run: `{lineage.sweep_run_id}`; trial run: `{lineage.run_id}`",
            f"- strategy: `{sweep.get(schema.STRATEGY, '')}`; objective: "
            f"`{sweep.get(schema.OBJECTIVE, '')}` ({trained.average} average)",
            f"- config sha256: `{sweep.get(schema.CONFIG_SHA256, '')}`",
            f"- data sha256: `{sweep.get(schema.DATA_SHA256, '')}`",
            f"- git commit: `{commit[0]}` (recorded at {commit[1]} time)"
            if commit
            else "- git commit: none",
            f"- libraries: {versions}",
            "",
            "## Data",
            "",
            f"- source `{exp.data.source}`; rows: {len(data.y_train)} train, "
            f"{len(data.y_val)} validation, {len(data.y_test)} test (never used during search)",
            f"- classes (model output index order): {', '.join(data.class_names)}",
            f"- input: {list(data.input_shape) or 'one string'} per row, "
            + input_contract(exp.data.scaling, trained.raw_input, data.is_text),
            "",
            "## Hyperparameters",
            "",
            _table(["parameter", "value"], param_rows),
            "",
            "## Metrics",
            "",
            _table(["metric", "validation", "test"], metric_rows),
            "",
            "## Confusion matrix (test split)",
            "",
            f"![confusion matrix]({CONFUSION_FILE})",
            "",
            *extra,
            "## Use",
            "",
            f"- `mlflow.pyfunc.load_model('models:/{name}@{alias}')` (inputs: float32 rows)",
            f"- `hpo serve models:/{name}@{alias}`, `hpo predict models:/{name}@{alias} rows.csv`",
            *_threshold_lines(record.metrics.get(THRESHOLD), data.class_names),
            "",
        ]
    )


def _threshold_lines(threshold: float | None, class_names: Sequence[str]) -> list[str]:
    """The decision threshold in force (binary models tuned with `objective.threshold`)."""
    if threshold is None:
        return []
    positive = class_names[1] if len(class_names) > 1 else "1"
    return [
        f"- decision threshold in force: **{threshold:.6g}** (label `{positive}` when its "
        f"probability >= {threshold:.6g}; tuned on the validation split, stored in the model "
        f"as `{schema.THRESHOLD_FILE}`): `hpo predict` applies it and the test metrics above "
        "are at it; the probabilities are returned as they are"
    ]


def write_confusion_png(matrix: np.ndarray, class_names: Sequence[str], path: Path) -> None:
    """The test split's confusion matrix, drawn as the sweep report draws its own."""
    from hpo.reporting.plots import plot_confusion

    n = len(matrix)
    labels = list(class_names)[:n] if len(class_names) >= n else [str(i) for i in range(n)]
    plot_confusion(path, matrix, labels, "test split")
