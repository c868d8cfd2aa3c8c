"""May this config continue that study? The study's ledger attrs say what its trials ran with.

A resume that changed how trials are made or trained would mix trials that cannot be
compared, and the best would be picked among them. So it is refused (exit 2, before anything
is written): another search space, data, model or objective (the fingerprints), or another
training setup (`TRAINING_FIELDS`). Another strategy keeps the trials comparable but changes
what the sweep is, so it needs the user's word (`--allow-strategy-change`). A study recorded
before an attr existed gets it on its first resume (nothing to compare with yet).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from hpo.config.experiment import Experiment
from hpo.config.space import SearchSpace
from hpo.errors import UserInputError
from hpo.search import strategy_class
from hpo.study.ledger import (
    DATA_SHA256_ATTR,
    EXPERIMENT_ATTR,
    SEARCH_SHA256_ATTR,
    STRATEGY_ATTR,
    TRAINING_ATTR,
)
from hpo.trial.cv import plan_for

# what changes how one trial is trained and scored (the trial budget, timeout and workers
# only change how many trials run)
TRAINING_FIELDS = ("epochs", "batch_size", "early_stopping_patience", "pruner", "cv")


def training_setup(exp: Experiment, space: SearchSpace) -> dict[str, Any]:
    """The config's `TRAINING_FIELDS`; `cv` is how a trial is scored (`evaluation`, or
    grid's `cv`: "validation", k, or "<k> x<r> seeds")."""
    cls = strategy_class(exp.strategy.name)
    runner = cls.runner_for(cls.Options.model_validate(exp.strategy.options))
    return {
        "epochs": exp.budget.epochs,
        # a searched batch size is part of the search space (fingerprinted already)
        "batch_size": "searched" if "batch_size" in space.names else exp.budget.batch_size,
        "early_stopping_patience": exp.budget.early_stopping_patience,
        "pruner": exp.strategy.pruner,
        "cv": plan_for(exp, runner).describe(),
    }


def study_record(exp: Experiment, space: SearchSpace, data_sha256: str) -> dict[str, Any]:
    """Every attr a study keeps about what its trials ran with."""
    return {
        SEARCH_SHA256_ATTR: exp.search_sha256(),
        DATA_SHA256_ATTR: data_sha256,
        EXPERIMENT_ATTR: exp.experiment_name,
        TRAINING_ATTR: training_setup(exp, space),
        STRATEGY_ATTR: exp.strategy.model_dump(mode="json", include={"name", "options"}),
    }


def check_resume(
    study: str,
    recorded: Mapping[str, Any],
    wanted: Mapping[str, Any],
    *,
    allow_strategy_change: bool = False,
    notify: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Raise if this config may not continue the study; else the attrs to (re)write.

    A new study (no fingerprint yet) takes every attr. Nothing is written here, so a refusal
    leaves the ledger as it was.
    """
    if SEARCH_SHA256_ATTR not in recorded:
        return dict(wanted)
    updates: dict[str, Any] = {}
    for key in (SEARCH_SHA256_ATTR, DATA_SHA256_ATTR):
        if key not in recorded:  # a first run cut off between two attrs
            updates[key] = wanted[key]
        elif recorded[key] != wanted[key]:
            what = "data" if key == DATA_SHA256_ATTR else "search space, data, model or objective"
            raise UserInputError(
                f"study {study!r} was run with a different {what}; use a new --study name",
                field="--study",
            )
    training = recorded.get(TRAINING_ATTR)
    if training is not None:
        _check_training(study, training, wanted[TRAINING_ATTR])
    strategy: Mapping[str, Any] = recorded.get(STRATEGY_ATTR) or {}
    new_strategy = bool(strategy) and _canon(strategy) != _canon(wanted[STRATEGY_ATTR])
    if new_strategy and not allow_strategy_change:
        raise UserInputError(
            f"study {study!r} was run with strategy {_strategy_text(strategy)}; this config "
            f"has {_strategy_text(wanted[STRATEGY_ATTR])}: pass --allow-strategy-change to "
            "continue it with the new strategy, or use a new --study name",
            field="--study",
        )
    say = notify or (lambda message: None)
    if training is None:
        updates[TRAINING_ATTR] = wanted[TRAINING_ATTR]
        say(
            f"study {study!r} has no record of its training setup (an older hpo): recorded "
            f"this config's ({_listed(wanted[TRAINING_ATTR])}) for later resumes"
        )
    elif set(TRAINING_FIELDS) - set(training):  # fields added since: nothing to compare yet
        updates[TRAINING_ATTR] = {**wanted[TRAINING_ATTR], **training}
    if not strategy or new_strategy:
        updates[STRATEGY_ATTR] = wanted[STRATEGY_ATTR]
    if new_strategy:
        say(
            f"study {study!r} continues with strategy {_strategy_text(wanted[STRATEGY_ATTR])} "
            f"(was {_strategy_text(strategy)})"
        )
    return updates


def _check_training(study: str, recorded: Mapping[str, Any], wanted: Mapping[str, Any]) -> None:
    changed = [n for n in TRAINING_FIELDS if n in recorded and recorded[n] != wanted[n]]
    if not changed:
        return
    before = {name: recorded.get(name) for name in TRAINING_FIELDS if name in recorded}
    raise UserInputError(
        f"study {study!r} was trained with {_listed(before)}; this config has "
        f"{_listed({name: wanted[name] for name in changed})} (changed: {', '.join(changed)}); "
        "resume with the study's settings, or use a new --study name to start over",
        field="--study",
    )


def _strategy_text(strategy: Mapping[str, Any]) -> str:
    options = strategy.get("options") or {}
    return str(strategy.get("name")) + (f" (options {_canon(options)})" if options else "")


def _listed(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{name}={_shown(value)}" for name, value in values.items())


def _shown(value: Any) -> str:
    return "null" if value is None else str(value)


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
