"""`hpo promote`: from a finished sweep to a registered, tested model version behind an alias.

Every check that can fail on the user's input (experiment, study, constraints, names) runs
before the registry is touched; the test split is read only here, never during search.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpo.errors import GateFailed, UserInputError
from hpo.metrics import METRIC_NAMES
from hpo.tracking.runs import MODEL_ARTIFACT, TrialRecord

# lower is better for costs and losses; every other metric (scores) is maximised
MINIMIZED = ("loss", "val_loss", "n_params")
_WHERE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(>=|<=|==|!=|>|<)\s*(\S.*?)\s*")
_OPS = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


@dataclass(frozen=True)
class Where:
    """One `--where` constraint on a trial's metric (or numeric parameter)."""

    name: str
    op: str
    value: float

    def holds(self, record: TrialRecord) -> bool:
        value = _value_of(record, self.name)
        return value is not None and bool(_OPS[self.op](value, self.value))

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value:g}"


@dataclass(frozen=True)
class PromoteOptions:
    experiment: str
    model_name: str
    study: str | None = None
    metric: str | None = None
    where: tuple[str, ...] = ()
    alias: str = "champion"
    min_test_f1: float | None = None
    force: bool = False
    tracking_uri: str | None = None


@dataclass(frozen=True)
class Promotion:
    model_name: str
    version: str
    alias: str
    run_id: str
    trial: int
    study: str
    test_metrics: dict[str, float]
    moved: bool
    created: bool
    previous: str | None
    reason: str

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_name}@{self.alias}"

    def to_json(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "version": self.version,
            "alias": self.alias,
            "model_uri": self.model_uri,
            "run_id": self.run_id,
            "test_metrics": self.test_metrics,
            "moved": self.moved,
        }


def _value_of(record: TrialRecord, name: str) -> float | None:
    if name in record.metrics:
        return float(record.metrics[name])
    if name in record.params:
        try:
            return float(record.params[name])
        except ValueError:
            return None
    return None


def parse_where(expressions: Sequence[str], records: Sequence[TrialRecord]) -> list[Where]:
    """`precision>=0.9` (several flags, or comma-separated); names must exist in the sweep."""
    known = sorted({k for r in records for k in (*r.metrics, *r.params)})
    constraints: list[Where] = []
    for expression in expressions:
        for part in filter(None, (p.strip() for p in expression.split(","))):
            match = _WHERE.fullmatch(part)
            if match is None:
                raise UserInputError(
                    f"cannot read {part!r}: write NAME OP NUMBER, e.g. 'precision>=0.9'",
                    field="--where",
                )
            name, op, raw = match.groups()
            try:
                value = float(raw)
            except ValueError:
                raise UserInputError(f"{raw!r} is not a number", field=f"--where {part}") from None
            if name not in known:
                raise UserInputError(
                    f"no metric or parameter {name!r} in the sweep (known: {', '.join(known)})",
                    field="--where",
                )
            constraints.append(Where(name, op, value))
    return constraints


def direction_of(metric: str, objective: str, objective_direction: str) -> str:
    """The sweep's direction for its objective; costs and losses down; scores up."""
    if metric == objective:
        return objective_direction
    if metric in MINIMIZED or metric.endswith("_seconds"):
        return "minimize"
    return "maximize"


def select_trial(
    records: Sequence[TrialRecord],
    metric: str,
    direction: str,
    constraints: Sequence[Where],
    objective: str,
    objective_direction: str,
) -> TrialRecord:
    """The best COMPLETE trial with a logged model that meets every constraint.

    Ties on `metric` go to the better sweep objective, then to the earlier trial.
    """
    complete = [r for r in records if r.state == "COMPLETE"]
    if not complete:
        raise UserInputError("no completed trial in the sweep", field="--study")
    if not any(metric in r.metrics for r in complete):
        known = sorted({k for r in complete for k in r.metrics})
        raise UserInputError(
            f"no trial has metric {metric!r} (known: {', '.join(known)})", field="--metric"
        )
    meeting = [r for r in complete if all(c.holds(r) for c in constraints)]
    if not meeting:
        raise UserInputError(
            f"no completed trial meets {' and '.join(map(str, constraints))}", field="--where"
        )
    candidates = [r for r in meeting if r.has_model and metric in r.metrics]
    if not candidates:
        raise UserInputError(
            "no trial meeting the constraints has a logged model (hpo logs a model only when "
            "a trial beats the best so far on the sweep objective)",
            field="--where",
        )
    sign = -1.0 if direction == "maximize" else 1.0
    obj_sign = -1.0 if objective_direction == "maximize" else 1.0

    def key(r: TrialRecord) -> tuple[float, float, int]:
        tie = r.metrics.get(objective)
        return (
            sign * r.metrics[metric],
            obj_sign * tie if tie is not None and math.isfinite(tie) else math.inf,
            r.trial,
        )

    return min(candidates, key=key)


def test_metric_name(metric: str) -> str:
    """The test metric that decides whether an alias moves (higher is better)."""
    return f"test_{metric if metric in METRIC_NAMES else 'f1'}"


def evaluate(model: Any, x: np.ndarray, y: np.ndarray, average: str) -> tuple[dict, np.ndarray]:
    """Test metrics (same averaging as the sweep) and the confusion matrix."""
    from sklearn.metrics import confusion_matrix

    from hpo.metrics import classification_metrics
    from hpo.trial.pipeline import PREDICT_CHUNK

    probs = np.concatenate(
        [
            np.asarray(model(x[i : i + PREDICT_CHUNK], training=False))
            for i in range(0, len(x), PREDICT_CHUNK)
        ]
    )
    predicted = probs.argmax(axis=1)
    metrics = {f"test_{k}": v for k, v in classification_metrics(y, predicted, average).items()}
    return metrics, confusion_matrix(y, predicted, labels=np.arange(probs.shape[1]))


def promote(options: PromoteOptions) -> Promotion:
    """Select, test, gate, register, alias: in that order, so a refusal writes nothing."""
    from hpo.tracking.registry import Registry, check_alias, check_model_name
    from hpo.tracking.sweeps import open_sweep

    check_model_name(options.model_name)
    check_alias(options.alias)
    sweep = open_sweep(options.experiment, options.study, options.tracking_uri)
    info = sweep.info
    metric = options.metric or info.objective
    direction = direction_of(metric, info.objective, info.direction)
    # the sweep's own constraints (config `constraints:`) hold too, as they did for `hpo best`
    constraints = [
        Where(c.metric, c.op, float(c.value)) for c in getattr(sweep, "constraints", [])
    ] + parse_where(options.where, sweep.records)
    record = select_trial(
        sweep.records, metric, direction, constraints, info.objective, info.direction
    )

    registry = Registry(options.tracking_uri)
    from hpo.tracking.lineage import trained_on

    lineage = registry.lineage(record.run_id)
    trained = trained_on(lineage)
    model = registry.load_keras(f"runs:/{record.run_id}/{MODEL_ARTIFACT}")
    data = trained.dataset
    test_metrics, confusion = evaluate(model, data.x_test, data.y_test, trained.average)
    registry.log_metrics(record.run_id, test_metrics)

    if options.min_test_f1 is not None and test_metrics["test_f1"] < options.min_test_f1:
        raise GateFailed(
            f"trial {record.trial} (run {record.run_id}) has test_f1 "
            f"{test_metrics['test_f1']:.4f} < --min-test-f1 {options.min_test_f1:g}; "
            "nothing registered"
        )

    import tempfile

    from hpo.deploy.model_card import card_markdown, lineage_tags, write_confusion_png

    tags = lineage_tags(lineage, record, test_metrics)
    card = card_markdown(options.model_name, options.alias, lineage, record, trained, test_metrics)
    with tempfile.TemporaryDirectory() as folder:
        from pathlib import Path

        from hpo.tracking.registry import CARD_FILE, CONFUSION_FILE

        (Path(folder) / CARD_FILE).write_text(card, encoding="utf-8")
        write_confusion_png(confusion, data.class_names, Path(folder) / CONFUSION_FILE)
        card_uri = registry.log_card(record.run_id, folder)
    tags["hpo.model_card"] = card_uri
    tags["hpo.confusion_matrix"] = card_uri.rsplit("/", 1)[0] + f"/{CONFUSION_FILE}"
    version, created = registry.register(
        options.model_name, record.run_id, tags=tags, description=card[:4000]
    )

    deciding = test_metric_name(metric)
    holder = registry.alias_holder(options.model_name, options.alias)
    previous = holder.version if holder else None
    if holder is None:
        moved, reason = True, "the alias was free"
    elif holder.version == version:
        moved, reason = False, "this version already holds the alias"
    else:
        old = registry.run_metric(holder.run_id, deciding)
        new = test_metrics[deciding]
        if options.force:
            moved, reason = True, f"--force (version {holder.version} held it)"
        elif old is None:
            moved, reason = True, f"version {holder.version} has no {deciding}"
        elif new > old:
            moved, reason = True, f"{deciding} {new:.4f} > {old:.4f} of version {holder.version}"
        else:
            moved, reason = (
                False,
                f"{deciding} {new:.4f} is not better than {old:.4f} of version "
                f"{holder.version} (use --force to move it anyway)",
            )
    if moved:
        registry.set_alias(options.model_name, options.alias, version)
    return Promotion(
        model_name=options.model_name,
        version=version,
        alias=options.alias,
        run_id=record.run_id,
        trial=record.trial,
        study=info.study,
        test_metrics=test_metrics,
        moved=moved,
        created=created,
        previous=previous,
        reason=reason,
    )


def promotion_text(result: Promotion) -> str:
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in result.test_metrics.items())
    made = "registered" if result.created else "already registered as"
    where = (
        f"alias {result.alias!r} -> version {result.version}"
        if result.moved
        else f"alias {result.alias!r} not moved ({result.reason})"
    )
    lines = [
        f"trial {result.trial} of study {result.study} (run {result.run_id})",
        f"{made} {result.model_name} version {result.version}",
        f"test: {metrics}",
        where + (f"; {result.reason}" if result.moved else ""),
        f"load with mlflow.pyfunc.load_model({result.model_uri!r})",
    ]
    return "\n".join(lines)
