"""The pruners behind `--pruner`: Optuna's, with epochs as the resource (in-memory studies)."""

from __future__ import annotations

import optuna
import pytest

from hpo.trial.pruning import make_pruner


def _study(pruner: str) -> optuna.Study:
    return optuna.create_study(direction="maximize", pruner=make_pruner(pruner, epochs=10))


def _first_epoch(study: optuna.Study, value: float) -> tuple[optuna.Trial, bool]:
    trial = study.ask()
    trial.report(value, step=1)  # one epoch trained
    return trial, trial.should_prune()


def test_asha_never_prunes_before_one_trial_has_completed() -> None:
    study = _study("asha")
    trial, pruned = _first_epoch(study, 0.1)  # the bootstrap alone would prune it
    assert not pruned
    trial.report(0.2, step=4)
    assert not trial.should_prune()
    study.tell(trial, 0.5)
    # a sweep whose every trial is poor still yields a fully trained model
    assert study.best_trial.number == 0


def test_asha_uses_the_first_trials_at_a_rung_as_reference_then_keeps_the_best() -> None:
    study = _study("asha")
    first, _ = _first_epoch(study, 0.1)
    study.tell(first, 0.5)
    # the next trials to finish epoch 1 complete the bootstrap of rung 0 (4 values) ...
    for value in (0.9, 0.8):
        trial, pruned = _first_epoch(study, value)
        assert pruned, value  # instead of running 10 epochs because best so far
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    # ... after which the top quarter goes on and the rest stops after one epoch
    _, pruned = _first_epoch(study, 0.95)
    assert not pruned
    _, pruned = _first_epoch(study, 0.3)
    assert pruned


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("median", optuna.pruners.MedianPruner),
        ("hyperband", optuna.pruners.HyperbandPruner),
        ("none", optuna.pruners.NopPruner),
    ],
)
def test_pruner_by_name(name: str, kind: type) -> None:
    assert isinstance(make_pruner(name, epochs=10), kind)
