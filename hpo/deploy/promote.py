"""`hpo promote`: from a finished sweep to a registered, tested model version behind an alias.

Every check that can fail on the user's input (experiment, study, constraints, names, a
model that is not a plain Keras model) and the test gate run before anything is written;
the test split is read only here, never during search.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpo.config.selection import Where, direction_of, is_better, parse_where, select_trial
from hpo.errors import GateFailed, UserInputError
from hpo.metrics import METRIC_NAMES
from hpo.scoring import THRESHOLD
from hpo.tracking import schema
from hpo.tracking.reads import TrialRecord
from hpo.tracking.schema import MODEL_ARTIFACT

if TYPE_CHECKING:
    import numpy as np

    from hpo.tracking.lineage import TrainedOn
    from hpo.tracking.reads import RunLineage
    from hpo.tracking.registry import Registry, VersionInfo
    from hpo.tracking.sweeps import SweepView


@dataclass(frozen=True)
class PromoteOptions:
    """What `hpo promote` was asked: which sweep, which trial (metric, where-clauses), the
    registered name and alias, the test gate (`min_test_f1`, `force`), the store, and
    whether to load a model that is not a plain Keras model (`trust_model`)."""

    experiment: str
    model_name: str
    study: str | None = None
    metric: str | None = None
    where: tuple[str, ...] = ()
    alias: str = "champion"
    min_test_f1: float | None = None
    force: bool = False
    tracking_uri: str | None = None
    trust_model: bool = False
    reevaluate: int | None = None  # retrain the top K trials ...
    seeds: int = 3  # ... with S fresh seeds each, pick by the mean (deploy/reevaluate.py)
    refit: bool = False  # train the pick on train + validation first (deploy/refit.py)


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
    reevaluation: list[dict[str, Any]] | None = None
    refit: bool = False
    test_intervals: dict[str, tuple[float, float]] | None = None

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
            **({"reevaluation": self.reevaluation} if self.reevaluation is not None else {}),
            "refit": self.refit,
        }


def test_metric_name(metric: str) -> str:
    """The test metric that decides whether an alias moves (higher is better)."""
    return f"test_{metric if metric in METRIC_NAMES else 'f1'}"


def promote(options: PromoteOptions) -> Promotion:
    """Select, test, gate, then log, register, alias: a refusal writes nothing."""
    from hpo.tracking.lineage import trained_on
    from hpo.tracking.registry import Registry, check_alias, check_model_name
    from hpo.tracking.sweeps import open_sweep
    from hpo.trial.predict import evaluate

    check_model_name(options.model_name)
    check_alias(options.alias)
    sweep = open_sweep(options.experiment, options.study, options.tracking_uri)
    metric = options.metric or sweep.info.objective
    registry = Registry(options.tracking_uri)
    reevaluation = None
    if options.reevaluate:
        from hpo.deploy.luck import reevaluated_pick

        record, model_run, reevaluation = reevaluated_pick(
            sweep, metric, options.where, options.reevaluate, options.seeds, registry
        )
    else:
        record = _select(sweep, metric, options.where)
        model_run = record.run_id

    lineage = registry.lineage(record.run_id)
    trained = trained_on(lineage)
    refitted = None
    if options.refit:
        from hpo.deploy.luck import refit_pick

        refitted = refit_pick(sweep, record, trained, options.tracking_uri)
        model_run = refitted.run_id
    model = registry.load_keras(
        f"runs:/{model_run}/{MODEL_ARTIFACT}", trust_model=options.trust_model
    )
    data = trained.dataset
    threshold = record.metrics.get(THRESHOLD)  # a binary trial's tuned decision threshold
    test_metrics, confusion = evaluate(model, data.x_test, data.y_test, trained.average, threshold)

    # the gate is decided before the first write: a refused promotion leaves the store as it was
    if options.min_test_f1 is not None and test_metrics["test_f1"] < options.min_test_f1:
        raise GateFailed(
            f"trial {record.trial} (run {record.run_id}) has test_f1 "
            f"{test_metrics['test_f1']:.4f} < --min-test-f1 {options.min_test_f1:g}; "
            "nothing registered, nothing logged"
        )

    registry.log_metrics(model_run, test_metrics)
    from hpo.deploy.luck import card_sections

    extra, intervals = card_sections(record, trained, test_metrics, confusion, refitted)
    tags, card = _card(options, registry, lineage, record, trained, test_metrics, confusion, extra)
    tags[schema.REFIT] = "true" if refitted is not None else "false"
    version, created = registry.register(
        options.model_name, model_run, tags=tags, description=card[:4000]
    )
    holder = registry.alias_holder(options.model_name, options.alias)
    moved, reason = _alias_moves(options, registry, holder, version, metric, test_metrics)
    if moved:
        registry.set_alias(options.model_name, options.alias, version)
    return Promotion(
        model_name=options.model_name,
        version=version,
        alias=options.alias,
        run_id=model_run,
        trial=record.trial,
        study=sweep.info.study,
        test_metrics=test_metrics,
        moved=moved,
        created=created,
        previous=holder.version if holder else None,
        reason=reason,
        reevaluation=[r.to_json() for r in reevaluation] if reevaluation is not None else None,
        refit=refitted is not None,
        test_intervals=intervals,
    )


def _select(sweep: SweepView, metric: str, where: Sequence[str]) -> TrialRecord:
    """The trial to promote; the sweep's own constraints (config `constraints:`) hold too,
    as they do for `hpo best`."""
    info = sweep.info
    direction = direction_of(metric, info.objective, info.direction)

    def pick(records: Sequence[TrialRecord]) -> TrialRecord:
        constraints = [Where.of(c) for c in sweep.constraints] + parse_where(where, records)
        return select_trial(records, metric, direction, constraints, info.objective, info.direction)

    # only a trial with a logged model can be promoted: those are read first (a few pages at
    # 10,000 trials); if they do not settle it, the error says what is wrong
    with suppress(UserInputError):
        return pick(list(sweep.ranked(metric, direction, with_model=True)))
    if not where and not sweep.constraints:
        # nothing to meet: the best completed trial alone says why (there is none, none has
        # the metric, or it has no model), without reading every run (10 s at 10,000)
        return pick(list(itertools.islice(sweep.ranked(metric, direction), 1)))
    return pick(sweep.records)  # which constraint no trial meets: every trial is needed


def _card(
    options: PromoteOptions,
    registry: Registry,
    lineage: RunLineage,
    record: TrialRecord,
    trained: TrainedOn,
    test_metrics: dict[str, float],
    confusion: np.ndarray,
    extra: Sequence[str] = (),
) -> tuple[dict[str, str], str]:
    """Log the model card and its confusion matrix on the trial run; the version's tags
    (lineage, test metrics, where the card is) and the card's text."""
    import tempfile
    from pathlib import Path

    from hpo.deploy.model_card import card_markdown, lineage_tags, write_confusion_png
    from hpo.tracking.registry import CARD_FILE, CONFUSION_FILE

    tags = lineage_tags(lineage, record, test_metrics)
    card = card_markdown(
        options.model_name, options.alias, lineage, record, trained, test_metrics, extra
    )
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / CARD_FILE).write_text(card, encoding="utf-8")
        write_confusion_png(confusion, trained.dataset.class_names, Path(folder) / CONFUSION_FILE)
        card_uri = registry.log_card(record.run_id, folder)
    tags[schema.MODEL_CARD] = card_uri
    tags[schema.CONFUSION_MATRIX] = card_uri.rsplit("/", 1)[0] + f"/{CONFUSION_FILE}"
    return tags, card


def _alias_moves(
    options: PromoteOptions,
    registry: Registry,
    holder: VersionInfo | None,
    version: str,
    metric: str,
    test_metrics: dict[str, float],
) -> tuple[bool, str]:
    """Whether the alias moves to `version`, and why: only to a better test score
    unless forced."""
    if holder is None:
        return True, "the alias was free"
    if holder.version == version:
        return False, "this version already holds the alias"
    deciding = test_metric_name(metric)
    old = registry.run_metric(holder.run_id, deciding)
    new = test_metrics[deciding]
    if options.force:
        return True, f"--force (version {holder.version} held it)"
    if old is None:
        return True, f"version {holder.version} has no {deciding}"
    if is_better(new, old, "maximize"):
        return True, f"{deciding} {new:.4f} > {old:.4f} of version {holder.version}"
    return (
        False,
        f"{deciding} {new:.4f} is not better than {old:.4f} of version "
        f"{holder.version} (use --force to move it anyway)",
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
    for entry in result.reevaluation or []:
        lines.insert(
            -1,
            f"re-evaluated trial {entry['trial']}: mean {entry['mean']:.4f} ± "
            f"{entry['std']:.4f} over {len(entry['seeds'])} seeds",
        )
    if result.refit:
        lines.insert(-1, "refit on train + validation (tag hpo.refit=true)")
    if result.test_intervals:
        spans = ", ".join(
            f"{k} [{low:.4f}, {high:.4f}]" for k, (low, high) in result.test_intervals.items()
        )
        lines.insert(3, f"test 95% bootstrap intervals: {spans}")
    return "\n".join(lines)
