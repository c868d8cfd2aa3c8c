"""Everything checked before a sweep writes anything: a bad config exits 2, untouched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hpo.config.experiment import Experiment
from hpo.config.space import SearchSpace
from hpo.data.dataset import Dataset, load_dataset
from hpo.data.images import require_in_memory
from hpo.errors import UserInputError
from hpo.models import check_builder, check_model, check_params
from hpo.search import strategy_for
from hpo.search.base import Direction
from hpo.trial.cv import plan_for
from hpo.trial.task import SklearnCV, TrialRunner


@dataclass(frozen=True)
class Checked:
    experiment: Experiment
    space: SearchSpace
    dataset: Dataset
    search_size: int | None = None  # a finite search's candidates (a grid), sized not walked

    @property
    def directions(self) -> list[Direction]:
        return self.experiment.directions  # type: ignore[return-value]

    def summary(self) -> dict[str, Any]:
        exp = self.experiment
        return {
            "name": exp.name,
            "experiment": exp.experiment_name,
            "model": exp.model.builder,
            "strategy": exp.strategy.name,
            "objective": ", ".join(f"{o.direction} {o.metric}" for o in exp.objectives)
            + f" ({exp.primary.average})",
            "constraints": ", ".join(map(str, exp.constraints)) or "none",
            "budget": f"{exp.budget.trials} trials x {exp.budget.epochs} epochs",
            **({} if self.search_size is None else {"search size": _size_text(self)}),
            "parameters": {
                p.name: p.kind + (" (conditional)" if p.condition else "")
                for p in self.space.params
            },
            "data": {"source": exp.data.source, **self.dataset.summary()},
        }


def check(experiment: Experiment, *, source: str) -> Checked:
    """Validate strategy, builder, parameters and data; raise UserInputError on the first
    problem (with `source` as the file to blame when the error has none of its own)."""
    try:
        space = experiment.space
        strategy = strategy_for(experiment, space)
        _check_pruning(experiment)
        check_builder(experiment.model.builder)
        check_params(experiment.model.builder, space.names)
        dataset = load_dataset(experiment.data, experiment.seed)
        check_model(experiment.model.builder, space, dataset.input_shape, dataset.is_text)
        if experiment.primary.average == "binary" and dataset.n_classes != 2:
            raise UserInputError(
                f"average 'binary' needs 2 classes, the data has {dataset.n_classes}",
                field="objective.average",
            )
        _check_folds(experiment, strategy.trial_runner(), dataset)
        if isinstance(strategy.trial_runner(), SklearnCV):  # scikit-learn needs arrays
            require_in_memory(
                [dataset.x_train, dataset.x_val],
                f"strategy {experiment.strategy.name} cross-validates on numpy arrays",
                "strategy.name",
            )
        if experiment.primary.threshold is not None and dataset.n_classes != 2:
            raise UserInputError(
                f"a decision threshold needs 2 classes, the data has {dataset.n_classes}",
                field="objective.threshold",
            )
    except UserInputError as err:
        if err.source is None:
            raise UserInputError(err.detail, source=source, field=err.field) from None
        raise
    return Checked(experiment, space, dataset, strategy.size)


def _size_text(checked: Checked) -> str:
    size, trials = checked.search_size, checked.experiment.budget.trials
    assert size is not None
    cut = f" (the budget runs the first {trials})" if trials < size else ""
    return f"{size} candidates{cut}"


def _check_folds(experiment: Experiment, runner: TrialRunner, dataset: Dataset) -> None:
    """k-fold cross-validation (on train + validation) needs k rows of every class: with
    fewer, scikit-learn warns and scores folds that miss a class. Grid's `cv: k` and
    `evaluation.cv` are one setting: both given, they must agree."""
    folds = plan_for(experiment, runner).folds
    field = "evaluation.cv" if experiment.evaluation.cv is not None else "strategy.options.cv"
    if folds is None:
        return
    if experiment.evaluation.cv is not None and folds != experiment.evaluation.cv:
        raise UserInputError(
            f"grid's cv: {folds} and evaluation.cv: {experiment.evaluation.cv} disagree: "
            "set one of them",
            field="strategy.options.cv",
        )
    counts = np.bincount(
        np.concatenate([dataset.y_train, dataset.y_val]), minlength=dataset.n_classes
    )
    if counts.min() < folds:
        smallest = int(counts.argmin())
        raise UserInputError(
            f"{folds}-fold cross-validation needs at least {folds} rows of every class "
            f"in train + validation, class {dataset.class_names[smallest]} has "
            f"{int(counts[smallest])}: use fewer cv splits (cv: {max(int(counts.min()), 2)}), "
            "a larger max_samples or a smaller test_size",
            field=field,
        )


def load_enqueued(path: str, space: SearchSpace) -> list[dict[str, Any]]:
    """Read `--enqueue FILE.json`: a list of parameter sets, each checked against the space
    (fixed parameters may be left out)."""
    import json
    from pathlib import Path

    file = Path(path)
    if not file.is_file():
        raise UserInputError("file not found", source=path, field="--enqueue")
    try:
        entries = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise UserInputError(f"invalid JSON: {err}", source=path) from None
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise UserInputError("expected a list of parameter objects", source=path)
    fixed = {p.name: p.value for p in space.params if p.kind == "fixed"}
    completed = []
    for index, entry in enumerate(entries):
        params = {**fixed, **entry}
        if not space.contains(params):
            active = space.active_names(params)
            unknown = sorted(set(params) - set(space.names))
            missing = [
                p.name
                for p in space.params
                if p.name not in params and p.condition is None and p.kind != "fixed"
            ]
            bad = [n for n in active if not space[n].contains(params[n])]
            why = (
                f"unknown parameter {unknown[0]!r}"
                if unknown
                else f"missing parameter {missing[0]!r}"
                if missing
                else f"{bad[0]}={params[bad[0]]!r} is outside the search space"
                if bad
                else "not a point of the search space (check conditional parameters)"
            )
            raise UserInputError(why, source=path, field=f"[{index}]")
        completed.append(params)
    return completed


def _check_pruning(experiment: Experiment) -> None:
    if experiment.strategy.pruner == "none":
        return
    if experiment.multi_objective:
        raise UserInputError("pruning works with one objective only", field="strategy.pruner")
    if experiment.primary.metric in ("n_params", "fit_seconds"):
        raise UserInputError(
            f"pruning needs a validation metric to report each epoch, not "
            f"{experiment.primary.metric!r}",
            field="strategy.pruner",
        )
