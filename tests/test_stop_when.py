"""`budget.stop_when`: the rules on constructed studies (pure), and in the loop (fake pool).

The real sweep that stops (MLflow tag, `hpo run --json`) is in tests/test_resources.py,
which shares one trained sweep between the issue's checks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_recall_fscore_support

from hpo.config.experiment import Experiment, _validate
from hpo.config.stop_when import StopWhen
from hpo.errors import UserInputError
from hpo.sweep.stop_rules import (
    NO_IMPROVEMENT,
    NOISE_AWARE,
    Point,
    evaluate,
    no_improvement,
    noise,
)
from hpo.trial.score_noise import bootstrap_std, scores_from_counts
from hpo.trial.task import TrialResult, TrialTask
from tests.conftest import tiny_experiment
from tests.test_sweep_loop import FakePool, make_sweep, new_ledger, states


def flat(n: int, value: float = 0.8, std: float | None = 0.02) -> list[Point]:
    return [Point(i, value, std) for i in range(n)]


def improving(n: int, step: float = 0.01, std: float | None = 0.02) -> list[Point]:
    return [Point(i, 0.5 + step * i, std) for i in range(n)]


def rules(**raw: Any) -> StopWhen:
    return StopWhen.model_validate(raw)


# ------------------------------------------------------------------ the rules, pure


def test_no_improvement_stops_a_flat_study_and_not_an_improving_one() -> None:
    stop = no_improvement(flat(8), patience=5, min_delta=0.0, maximize=True)
    assert stop is not None and stop.reason == NO_IMPROVEMENT
    assert "7 trials in a row" in stop.detail
    assert no_improvement(improving(30), patience=5, min_delta=0.0, maximize=True) is None
    # gains smaller than min_delta do not count as improving
    assert no_improvement(improving(8, 0.001), 5, min_delta=0.01, maximize=True) is not None
    # minimizing: values going down are improvements
    falling = [Point(i, 1.0 - 0.1 * i) for i in range(8)]
    assert no_improvement(falling, 3, 0.0, maximize=False) is None
    assert no_improvement(falling, 3, 0.0, maximize=True) is not None


def test_failed_and_pruned_trials_count_as_not_improving() -> None:
    seen = [Point(0, 0.7), *[Point(i, None) for i in range(1, 5)]]
    assert no_improvement(seen, 4, 0.0, maximize=True) is not None
    assert no_improvement([Point(i, None) for i in range(9)], 4, 0.0, True) is None  # no best


def test_noise_aware_stops_when_the_expected_gain_is_below_the_noise() -> None:
    # the default window: 20 trials (min_trials), with one scored trial before it
    assert evaluate(flat(20), rules(noise_aware=True), maximize=True, trials_left=40) is None
    stop = evaluate(flat(22), rules(noise_aware=True), maximize=True, trials_left=40)
    assert stop is not None and stop.reason == NOISE_AWARE
    # 0.01 per trial over 40 trials left is far above a noise of 0.02: keep going
    assert evaluate(improving(22), rules(noise_aware=True), maximize=True, trials_left=40) is None
    # the same slow creep with few trials left cannot beat the noise
    creeping = improving(22, step=0.0005)
    assert evaluate(creeping, rules(noise_aware=True), maximize=True, trials_left=5) is not None


def test_noise_falls_back_to_the_spread_of_the_five_best() -> None:
    assert noise(flat(3, std=0.03), maximize=True) == 0.03
    values = [0.80, 0.81, 0.82, 0.83, 0.84, 0.1]
    spread = noise([Point(i, v) for i, v in enumerate(values)], maximize=True)
    assert spread == pytest.approx(float(np.std(values[:5], ddof=1)))
    assert noise([Point(i, 0.5) for i in range(3)], maximize=True) is None


def test_no_rule_fires_before_min_trials_or_when_the_budget_is_spent() -> None:
    both = rules(no_improvement={"trials": 2}, noise_aware=True, min_trials=10)
    assert evaluate(flat(9), both, maximize=True, trials_left=50) is None
    assert evaluate(flat(10), both, maximize=True, trials_left=50) is not None
    assert evaluate(flat(30), both, maximize=True, trials_left=0) is None


def test_stop_when_is_checked_in_the_config() -> None:
    with pytest.raises(UserInputError, match=r"budget\.stop_when.*name a rule"):
        _validate(tiny_experiment(**{"budget.stop_when": {}}), "x")
    with pytest.raises(UserInputError, match=r"budget\.stop_when\.no_improvement\.trials"):
        _validate(tiny_experiment(**{"budget.stop_when": {"no_improvement": {"trials": 0}}}), "x")
    # configs without the new keys keep their hash (their studies stay resumable)
    plain = Experiment.model_validate(tiny_experiment())
    assert "stop_when" not in plain.canonical_json()
    assert "mixed_precision" not in plain.canonical_json()


# ------------------------------------------------------------------ the bootstrap noise


def test_scores_from_a_confusion_matrix_are_scikit_learns() -> None:
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 4, 300)
    y_pred = np.where(rng.random(300) < 0.7, y_true, rng.integers(0, 4, 300))
    counts = np.zeros((1, 5, 5), dtype=int)  # class 4: never seen nor predicted
    np.add.at(counts[0], (y_true, y_pred), 1)
    for average in ("macro", "weighted", "micro"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average=average)
        for metric, want in (("precision", p), ("recall", r), ("f1", f)):
            assert scores_from_counts(counts, metric, average)[0] == pytest.approx(want)


def test_the_bootstrap_std_matches_resampling_the_predictions() -> None:
    rng = np.random.default_rng(2)
    y_true = rng.integers(0, 3, 400)
    y_pred = np.where(rng.random(400) < 0.8, y_true, rng.integers(0, 3, 400))
    confusion = np.zeros((3, 3), dtype=int)
    np.add.at(confusion, (y_true, y_pred), 1)
    resampled = []
    for _ in range(120):
        idx = rng.integers(0, 400, 400)
        resampled.append(f1_score(y_true[idx], y_pred[idx], average="macro"))
    direct = float(np.std(resampled, ddof=1))
    ours = bootstrap_std(confusion.tolist(), "f1", "macro")
    assert ours is not None and ours == pytest.approx(direct, rel=0.3)
    assert bootstrap_std(confusion.tolist(), "n_params", "macro") is None


# ------------------------------------------------------------------ in the loop


def scored_as(values: list[float], std: float = 0.02) -> Any:
    def answer(task: TrialTask) -> TrialResult:
        f1 = values[task.number] if task.number < len(values) else values[-1]
        return TrialResult(state="COMPLETE", metrics={"f1": f1}, n_params=10, score_std=std)

    return answer


def loop_experiment(trials: int, stop_when: dict[str, Any]) -> Experiment:
    return Experiment.model_validate(
        tiny_experiment(**{"budget.trials": trials, "budget.stop_when": stop_when})
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_a_flat_sweep_stops_early_and_says_why(workers: int) -> None:
    exp = loop_experiment(30, {"no_improvement": {"trials": 5}, "min_trials": 5})
    ledger, pool = new_ledger(), FakePool(scored_as([0.5] * 30))
    summary = make_sweep(exp, ledger, pool, workers=workers).run()
    # trial 0 sets the best, 1..5 do not beat it: no new trial after the 6th is counted
    assert len(states(ledger)) == 6 and set(states(ledger)) == {"COMPLETE"}
    assert summary.stop_reason == NO_IMPROVEMENT
    assert summary.to_json()["stop_reason"] == NO_IMPROVEMENT


def test_an_improving_sweep_runs_its_budget() -> None:
    exp = loop_experiment(15, {"no_improvement": {"trials": 3}, "noise_aware": True})
    ledger = new_ledger()
    pool = FakePool(scored_as([0.3 + 0.04 * i for i in range(15)]))
    summary = make_sweep(exp, ledger, pool).run()
    assert len(states(ledger)) == 15
    assert summary.stop_reason is None and summary.to_json()["stop_reason"] is None


def test_the_noise_aware_rule_reads_the_trials_noise_from_the_ledger() -> None:
    exp = loop_experiment(40, {"noise_aware": True, "min_trials": 6})
    ledger = new_ledger()
    # improves by 0.001 per trial; its bootstrap noise is 0.05: hopeless after a few trials
    summary = make_sweep(
        exp, ledger, FakePool(scored_as([0.6 + 0.001 * i for i in range(40)], 0.05))
    ).run()
    assert summary.stop_reason == NOISE_AWARE
    assert len(states(ledger)) == 7  # min_trials 6: the window needs one trial before it
    assert ledger.trials()[0].metrics["score_std"] == 0.05
