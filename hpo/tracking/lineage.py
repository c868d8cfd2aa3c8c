"""From a trial run back to the exact data split it was trained on.

Promotion evaluates on the test split and export checks parity on validation rows, so both
rebuild the split from the sweep's `config.yaml` and refuse when the data fingerprint no
longer matches the sweep's `hpo.data_sha256` (the rows would not be the same ones). A
trial run without the `hpo.input: raw` tag holds a model logged by an earlier version, which
expects rows scaled outside the model: its splits are rebuilt pre-scaled.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml
from pydantic import ValidationError

from hpo.config.experiment import Experiment
from hpo.config.yaml_load import safe_load
from hpo.data.dataset import Dataset, load_dataset, pre_scaled
from hpo.errors import UserInputError, first_line
from hpo.tracking import schema
from hpo.tracking.reads import RunLineage


@dataclass(frozen=True)
class TrainedOn:
    experiment: Experiment
    dataset: Dataset  # as the model takes it: raw rows, or pre-scaled for a legacy model
    raw_input: bool = True

    @property
    def average(self) -> str:
        """The averaging of the sweep's (first) objective: test metrics use the same one."""
        objective = self.experiment.objective
        first = objective[0] if isinstance(objective, list) else objective
        return str(first.average)


def trained_on(lineage: RunLineage) -> TrainedOn:
    """The sweep's resolved config and its data split, checked against the fingerprint."""
    where = f"sweep run {lineage.sweep_run_id} config.yaml"
    try:
        experiment = Experiment.model_validate(safe_load(lineage.config_yaml))
    except (ValidationError, yaml.YAMLError) as err:
        first = first_line(err)
        raise UserInputError(f"cannot read the sweep's config: {first}", source=where) from None
    dataset = load_dataset(experiment.data, experiment.seed)
    expected = lineage.sweep_tags.get(schema.DATA_SHA256)
    if expected and expected != dataset.fingerprint:
        raise UserInputError(
            "the data changed since the sweep ran (fingerprint differs from hpo.data_sha256); "
            "its validation and test rows cannot be rebuilt",
            source=where,
        )
    if is_raw_input(lineage.trial_tags):
        return TrainedOn(experiment, dataset)
    return TrainedOn(experiment, pre_scaled(dataset), raw_input=dataset.scaling is None)


def is_raw_input(trial_tags: dict[str, str]) -> bool:
    """Whether the trial's model takes raw rows (its run says `hpo.input: raw`)."""
    return trial_tags.get(schema.INPUT) == schema.INPUT_RAW
