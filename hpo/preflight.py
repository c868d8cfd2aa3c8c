"""Everything checked before a sweep writes anything: a bad config exits 2, untouched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hpo.config import Experiment
from hpo.data import Dataset, load_dataset
from hpo.errors import UserInputError
from hpo.models import check_builder, check_model, check_params
from hpo.space import SearchSpace
from hpo.strategies import strategy_for
from hpo.strategies.base import Direction


@dataclass(frozen=True)
class Checked:
    experiment: Experiment
    space: SearchSpace
    dataset: Dataset

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
        strategy_for(experiment, space)
        check_builder(experiment.model.builder)
        check_params(experiment.model.builder, space.names)
        dataset = load_dataset(experiment.data, experiment.seed)
        check_model(experiment.model.builder, space, dataset.input_shape, dataset.is_text)
        if experiment.primary.average == "binary" and dataset.n_classes != 2:
            raise UserInputError(
                f"average 'binary' needs 2 classes, the data has {dataset.n_classes}",
                field="objective.average",
            )
    except UserInputError as err:
        if err.source is None:
            raise UserInputError(err.detail, source=source, field=err.field) from None
        raise
    return Checked(experiment, space, dataset)
